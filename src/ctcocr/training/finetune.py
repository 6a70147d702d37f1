"""Where a new run's weights start: another run's (`ctcocr train DATA --init RUN`), or fresh.

Fresh networks get the blank prior (model.set_blank_prior), so that CTC does not start by
spending hundreds of steps on the all-blank plateau.

The backbone and the BiLSTM are copied as they are; they must have the same shapes, so the
new run keeps the old run's model configuration and input size unless told otherwise. The
changes of shape allowed are fewer layers per stage (`--depths 1,1,1,1` from a run of 1,1,2,2)
and fewer channels (`--widths`), see shrink.py: a faster network then starts from a trained
one rather than from nothing. The classifier has one row per class: the blank's row and the
rows of characters both charsets share are copied, so the pretrained model already reads
those; rows of new characters keep their fresh initialisation.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load

from ctcocr.core.errors import ConfigError, ModelFileError
from ctcocr.core.run_folder import WEIGHTS, RunSpec, check_weights_sha256, read_spec
from ctcocr.network.model import Network, set_blank_prior
from ctcocr.training.loaders import TrainingData
from ctcocr.training.shrink import drop_layers, narrow_channels

CLASSIFIER = ("classifier.weight", "classifier.bias")


def start_weights(network: Network, spec: RunSpec, data: TrainingData, init: Path | None) -> str:
    """Load `init`'s weights, or set the blank prior of a fresh network -> a line for the log."""
    if init is not None:
        return load_initial_weights(network, init, spec)
    share = blank_share(data, spec.model.time_steps)
    set_blank_prior(network, share)
    return f"new {spec.model.architecture}: p(blank) starts at {share:.2f}"


def blank_share(data: TrainingData, time_steps: int) -> float:
    """(T - mean label length) / T: the share of columns that read blank once trained."""
    if data.synth is not None:
        mean_length = (data.synth.min_length + data.synth.max_length) / 2
    else:
        labels = [s.label for s in data.train or []]
        mean_length = sum(map(len, labels)) / max(1, len(labels))
    return (time_steps - mean_length) / time_steps


def initial_spec(
    init: Path, spec: RunSpec, model_given: dict[str, Any], preprocess_given: dict[str, Any]
) -> RunSpec:
    """The new run's spec: the init run's model and preprocessing, except the fields whose
    flags were given (an input size or channel count the weights do not fit is refused when
    they load, naming the flags).

    The init run's weights are checked here too, so that a damaged file stops the training
    before its data loaders start, not after."""
    old = read_spec(init)
    read_initial_weights(init)
    preprocess = replace(old.preprocess, **preprocess_given)
    return replace(spec, preprocess=preprocess, model=replace(old.model, **model_given))


def load_initial_weights(network: torch.nn.Module, init: Path, spec: RunSpec) -> str:
    """Copy `init`'s weights into `network` (built for `spec`) -> a line saying what was kept."""
    old_spec = read_spec(init)
    old, dropped = drop_layers(
        read_initial_weights(init), old_spec.model.depths, spec.model.depths, init
    )
    old, narrowed = narrow_channels(
        old, old_spec.model.widths, spec.model.widths, spec.model.depths, init
    )
    new = network.state_dict()
    mismatched = [
        f"{name} {tuple(old[name].shape) if name in old else 'missing'} -> "
        f"{tuple(new[name].shape) if name in new else 'missing'}"
        for name in sorted(set(new) | set(old))
        if name not in CLASSIFIER
        and (name not in old or name not in new or old[name].shape != new[name].shape)
    ]
    if mismatched:
        raise ConfigError(
            f"--init {init}: its network ({_describe(old_spec)}) differs from this one "
            f"({_describe(spec)}): {'; '.join(mismatched[:3])}: give the same --model, "
            "--features, --hidden and --channels as that run (and the same --depths and "
            "--widths, or fewer layers and channels per stage), or drop --init"
        )
    state = {name: old[name] for name in new if name not in CLASSIFIER}
    rows = _shared_rows(old_spec.charset.chars, spec.charset.chars)
    for name in CLASSIFIER:
        tensor = new[name].clone()  # (classes, features) or (classes,)
        for new_row, old_row in rows:
            tensor[new_row] = old[name][old_row]
        state[name] = tensor
    network.load_state_dict(state)
    kept = len(rows) - 1  # minus the blank
    fresh = len(spec.charset.chars) - kept
    copied = "backbone copied"
    if dropped:
        copied += f" without {', '.join(dropped)}"
    if narrowed:
        copied += f", narrowed ({'; '.join(narrowed)}: the channels that pass the most on)"
    return (
        f"initialised from {init}: {copied}; blank and {kept} shared character(s) kept, "
        f"{fresh} new character(s) start fresh"
    )


def read_initial_weights(init: Path) -> dict[str, torch.Tensor]:
    """The --init run's tensors by name, checked against the SHA-256 its config.json records
    (as `network.weights.load_network` checks): ModelFileError naming the file when it is
    missing, damaged or not safetensors."""
    path = init / WEIGHTS
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"--init {init}: cannot read {path} ({exc.strerror}): give a finished run folder"
        ) from exc
    check_weights_sha256(init, data)
    try:
        return load(data)
    except SafetensorError as exc:
        raise ModelFileError(
            f"{path}: not a safetensors file ({str(exc).splitlines()[0]}): the --init run is "
            "damaged; retrain or restore it"
        ) from exc


def _shared_rows(old_chars: str, new_chars: str) -> list[tuple[int, int]]:
    """(new class, old class) pairs: the blank (0, 0), then every shared character."""
    old_index = {c: i + 1 for i, c in enumerate(old_chars)}
    pairs = [(0, 0)]
    pairs += [(i + 1, old_index[c]) for i, c in enumerate(new_chars) if c in old_index]
    return pairs


def _describe(spec: RunSpec) -> str:
    model = spec.model
    widths = ",".join(map(str, model.widths))
    return (
        f"{model.architecture}, widths {widths}, features {model.features}, "
        f"{spec.preprocess.channels} channel(s)"
    )
