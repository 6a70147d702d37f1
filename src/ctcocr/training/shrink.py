"""Smaller networks from a trained one: `ctcocr train --init RUN` with fewer layers per stage
(`--depths`) or fewer channels (`--widths`) than RUN, so that a faster network starts from what
a trained one computes rather than from nothing.

Fewer layers: each stage keeps its first layers (`drop_layers`). The layers kept are then fed
other inputs than they learnt on, and the network reads little at first.

Fewer channels: each convolution keeps the output channels that pass the most on to the layer
reading them, and that layer keeps only those inputs (`narrow_channels`). A channel's share is
the root mean square of what it passes on, estimated from its batch norm alone (after
normalisation the channel is gamma * z + beta with z about N(0, 1), then the ReLU), times the
size of the weights that read it in the next convolution (or in the collapse to one row, after
the last stage). A short training, best with RUN as --teacher, brings back most of the rest.

A stage that would grow is refused: its extra layers or channels would start untrained in the
middle of a trained network.

>>> tensors, narrowed = narrow_channels(tensors, (16, 32, 64, 128), (16, 32, 48, 96), depths, init)
>>> narrowed
['stage 3: 64 -> 48 channels', 'stage 4: 128 -> 96 channels']
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ctcocr.core.errors import ConfigError

COLLAPSE = "backbone.collapse.0.weight"
BATCH_NORM = ("weight", "bias", "running_mean", "running_var")


def conv_positions(depths: tuple[int, ...] | list[int]) -> dict[tuple[int, int], int]:
    """(stage, layer) -> the index of that conv block in `Backbone.convs`, where every stage's
    layers are followed by its max-pool."""
    positions, index = {}, 0
    for stage, depth in enumerate(depths):
        for layer in range(depth):
            positions[stage, layer] = index
            index += 1
        index += 1  # the stage's pool
    return positions


def drop_layers(
    old: dict[str, torch.Tensor],
    old_depths: tuple[int, ...] | list[int],
    new_depths: tuple[int, ...] | list[int],
    init: Path,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The init run's tensors renamed for a network with fewer layers per stage -> (tensors,
    the layers left out, as "stage S layer L"). Each stage keeps its first layers. The same
    depths: the tensors unchanged. A stage deeper than the init run's is a ConfigError: its
    extra layers would start untrained in the middle of a trained network."""
    old_depths, new_depths = tuple(old_depths), tuple(new_depths)
    if old_depths == new_depths or len(old_depths) != len(new_depths):
        return old, []  # a different number of stages: the shape check names the mismatch
    refuse_growth(init, "--depths", old_depths, new_depths, "layers")
    before, after = conv_positions(old_depths), conv_positions(new_depths)
    moved = {f"backbone.convs.{before[at]}.": f"backbone.convs.{after[at]}." for at in after}
    renamed = {}
    for name, tensor in old.items():
        if not name.startswith("backbone.convs."):
            renamed[name] = tensor
            continue
        prefix = next((p for p in moved if name.startswith(p)), None)
        if prefix is not None:
            renamed[moved[prefix] + name[len(prefix) :]] = tensor
    dropped = [f"stage {s + 1} layer {i + 1}" for (s, i) in sorted(set(before) - set(after))]
    return renamed, dropped


def narrow_channels(
    tensors: dict[str, torch.Tensor],
    old_widths: tuple[int, ...],
    new_widths: tuple[int, ...],
    depths: tuple[int, ...],
    init: Path,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`tensors` (already renamed for `depths` by drop_layers) with each stage cut
    from old_widths to new_widths channels -> (tensors, one line per narrowed stage). The same
    widths: unchanged. A stage wider than the init run's is a ConfigError: its extra channels
    would start untrained. A different number of stages is left to the caller's shape check."""
    old_widths, new_widths = tuple(old_widths), tuple(new_widths)
    if old_widths == new_widths or len(old_widths) != len(new_widths):
        return tensors, []
    refuse_growth(init, "--widths", old_widths, new_widths, "channels")
    positions = conv_positions(depths)
    narrowed = dict(tensors)
    blocks = [
        (stage, positions[stage, layer])
        for stage in range(len(depths))
        for layer in range(depths[stage])
    ]
    kept_inputs: torch.Tensor | None = None
    for number, (stage, block) in enumerate(blocks):
        conv = f"backbone.convs.{block}.0.weight"
        if kept_inputs is not None:
            narrowed[conv] = narrowed[conv][:, kept_inputs]
        reader = (
            f"backbone.convs.{blocks[number + 1][1]}.0.weight"
            if number + 1 < len(blocks)
            else COLLAPSE
        )
        kept = _strongest(narrowed, block, tensors[reader], new_widths[stage])
        narrowed[conv] = narrowed[conv][kept]
        for name in BATCH_NORM:
            key = f"backbone.convs.{block}.1.{name}"
            narrowed[key] = narrowed[key][kept]
        kept_inputs = kept
    narrowed[COLLAPSE] = narrowed[COLLAPSE][:, kept_inputs]
    lines = [
        f"stage {stage + 1}: {old} -> {new} channels"
        for stage, (old, new) in enumerate(zip(old_widths, new_widths, strict=True))
        if new < old
    ]
    return narrowed, lines


def refuse_growth(
    init: Path, flag: str, old: tuple[int, ...], new: tuple[int, ...], what: str
) -> None:
    """ConfigError naming the stages where `new` has more `what` than the init run's `old`."""
    grown = [i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if b > a]
    if grown:
        raise ConfigError(
            f"--init {init}: {flag} {','.join(map(str, new))} has more {what} in stage "
            f"{', '.join(map(str, grown))} than that run ({','.join(map(str, old))}): give at "
            f"most its {flag[2:]}, or drop --init"
        )


def _strongest(
    tensors: dict[str, torch.Tensor], block: int, reader: torch.Tensor, keep: int
) -> torch.Tensor:
    """The indices (ascending) of conv block `block`'s `keep` output channels that pass the
    most on: the RMS of ReLU(gamma * z + beta) times the norm of the reader's weights on it."""
    gamma = tensors[f"backbone.convs.{block}.1.weight"].abs().clamp(min=1e-8)
    beta = tensors[f"backbone.convs.{block}.1.bias"]
    shares = torch.tensor([_relu_rms(float(b), float(g)) for g, b in zip(gamma, beta, strict=True)])
    reads = reader.transpose(0, 1).reshape(reader.shape[1], -1).norm(dim=1)
    order = torch.argsort(shares * reads, descending=True)
    return order[:keep].sort().values


def _relu_rms(mean: float, spread: float) -> float:
    """sqrt(E[ReLU(X)^2]) for X ~ N(mean, spread^2)."""
    ratio = mean / spread
    density = math.exp(-0.5 * ratio * ratio) / math.sqrt(2 * math.pi)
    positive = 0.5 * (1 + math.erf(ratio / math.sqrt(2)))  # P(X > 0)
    return math.sqrt(max(0.0, (mean * mean + spread * spread) * positive + mean * spread * density))
