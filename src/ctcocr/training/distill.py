"""Distillation (`ctcocr train ... --teacher RUN`): the network also learns to read each column
as a trained network reads it, so that a small, fast network can learn what a larger one knows.

The loss adds, to CTC, the KL divergence from the teacher's per-column distribution to the
student's, summed over the T columns and divided by the mean label length, so that it is in
the units of the CTC loss (which is per character). The teacher sees the same augmented batch
and never learns. Both networks must read the same input (size, channels, resize, frames,
colour filter), with the same T and the same charset: column t of one is column t of the other.

>>> teacher = load_teacher("general", spec, torch.device("cpu"))
>>> loss = ctc_loss(logits, targets, lengths) + distillation_loss(logits, teacher(images), lengths)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import RunSpec, read_spec
from ctcocr.network.model import Network
from ctcocr.network.weights import load_network
from ctcocr.runtime.shipped import init_run


def teacher_run(value: str, spec: RunSpec) -> Path:
    """The --teacher run folder (a path or a shipped model's name), checked against `spec`:
    ConfigError naming what differs and the fix."""
    run = init_run(value)
    teacher = read_spec(run)
    differs = []
    if asdict(teacher.preprocess) != asdict(spec.preprocess):
        differs.append(f"input {_input(teacher)} against {_input(spec)}")
    if teacher.model.time_steps != spec.model.time_steps:
        differs.append(f"T = {teacher.model.time_steps} against {spec.model.time_steps}")
    if teacher.charset.chars != spec.charset.chars:
        differs.append(f"charset {teacher.charset.chars!r} against {spec.charset.chars!r}")
    if differs:
        raise ConfigError(
            f"--teacher {value}: it reads other columns than this network ({'; '.join(differs)}):"
            " give the teacher's --size, --channels, --time-steps and --charset, or drop --teacher"
        )
    return run


def load_teacher(value: str, spec: RunSpec, device: torch.device) -> Network:
    """The --teacher run's network, checked, in eval mode on `device`, with no gradients."""
    network, _ = load_network(teacher_run(value, spec))
    network.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    network.requires_grad_(False)
    return network.eval()


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """KL(teacher || student) per column, summed over columns, per character of the labels.

    student, teacher: logits (B, T, C); target_lengths: (B,)."""
    taught = F.log_softmax(teacher.float(), dim=-1)
    learnt = F.log_softmax(student.float(), dim=-1)
    per_image = F.kl_div(learnt, taught, log_target=True, reduction="none").sum(dim=(1, 2))
    return per_image.mean() / target_lengths.float().mean().clamp(min=1.0)


def _input(spec: RunSpec) -> str:
    pre = spec.preprocess
    shown = f"{pre.width}x{pre.height}, {pre.channels} channel(s), {pre.resize}, {pre.frames} frame"
    if pre.keep_color is not None:
        shown += f", --keep-color {pre.keep_color} (tolerance {pre.color_tolerance:g})"
    return shown
