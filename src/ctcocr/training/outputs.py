"""What training writes and says each epoch: the metrics record, the log line, the run
folder's files (best weights, resume state, metrics, curves), and the confidence temperature
fitted at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ctcocr.core.config import DEFAULT_EPOCHS, TrainConfig, least_steps
from ctcocr.core.run_folder import CURVES, METRICS, RunSpec, append_metrics, read_spec
from ctcocr.evaluation.calibration import calibrate_logits
from ctcocr.evaluation.scores import Scores
from ctcocr.evaluation.temperature import save_temperature
from ctcocr.network.weights import load_network, save_weights
from ctcocr.training.resume_state import save_resume_state
from ctcocr.training.trainer import Progress

Log = Callable[[str], None]
CURVE_INTERVAL_S = 30.0


def print_line(line: str) -> None:
    """The default log: one line, flushed, so that `ctcocr train | tee` shows it at once."""
    print(line, flush=True)


def silent(line: str) -> None:
    """The log of ranks other than 0."""


def save_epoch(
    run_dir: Path,
    network: torch.nn.Module,
    resume_state: dict[str, Any],
    record: dict[str, Any],
    improved: bool,
    last_drawn: float,
) -> float:
    """Best weights, resume state, metrics, and the curves now and then -> when last drawn."""
    if improved:
        save_weights(run_dir, network)
    save_resume_state(run_dir, resume_state)
    append_metrics(run_dir, record)
    if time.monotonic() - last_drawn > CURVE_INTERVAL_S:  # drawing costs ~0.5 s
        draw_curves(run_dir)
        return time.monotonic()
    return last_drawn


@torch.no_grad()
def calibrate_on_validation(
    run_dir: Path, spec: RunSpec, loader: DataLoader, device: torch.device, log: Log
) -> None:
    """Once the best weights are final: fit the confidence temperature on validation logits
    and store it in config.json (see evaluation/calibration.py)."""
    network, _ = load_network(run_dir, spec)
    network.to(device)
    logits, labels = [], []
    for images, _, _, batch_labels in loader:
        logits.append(network(images.to(device)).float().cpu().numpy())  # (B, T, C)
        labels += batch_labels
    fit = calibrate_logits(np.concatenate(logits), labels, spec.charset)
    save_temperature(run_dir, spec, fit.temperature)
    log(
        f"confidence temperature {fit.temperature:.3g} on {fit.count} validation images: "
        f"calibration error {fit.ece_before:.1%} -> {fit.ece_after:.1%}"
    )


def temperature_without_validation(
    run_dir: Path, spec: RunSpec, init: Path | None, log: Log
) -> None:
    """No image was held out to fit the confidence temperature on. A fine-tuned run keeps its
    starting run's (fitted on that run's validation images): such runs are under-confident at
    1, and the start's temperature brought the calibration error closer on all four shared
    sets' test splits (docs/guide.md#validation-images). From scratch it stays 1."""
    how = f"`ctcocr calibrate {run_dir} DATA` fits it on labelled images this run did not train on"
    if init is None:
        log(f"confidence not calibrated (no images held out): {how}")
        return
    temperature = read_spec(init).temperature
    save_temperature(run_dir, spec, temperature)
    log(
        f"confidence temperature {temperature:.3g}, the starting model's (no images held out "
        f"to fit one on): {how}"
    )


def epoch_record(
    progress: Progress,
    train_loss: float,
    validation: tuple[float, Scores] | None,
    optimizer: torch.optim.Optimizer,
    images_per_s: float,
) -> dict[str, Any]:
    """One metrics.jsonl line; `validation` (loss, scores) is None when no image is held out,
    and its keys are then left out."""
    record: dict[str, Any] = {
        "epoch": progress.epoch,
        "step": progress.step,
        "elapsed_s": round(progress.elapsed_s, 2),
        "train_loss": round(train_loss, 5),
    }
    if validation is not None:
        val_loss, scores = validation
        record["val_loss"] = round(val_loss, 5)
        record["sequence_accuracy"] = scores.sequence_accuracy
        record["character_accuracy"] = round(scores.character_accuracy, 5)
    record["lr"] = optimizer.param_groups[0]["lr"]
    record["images_per_s"] = round(images_per_s, 1)
    return record


def epoch_line(record: dict[str, Any], improved: bool, left_s: float | None = None) -> str:
    """One epoch's metrics; `left_s`: the estimated time the plan has left."""
    validated = "val_loss" in record
    validation = (
        f"val loss {record['val_loss']:.4f}  seq acc {record['sequence_accuracy']:.2%}  "
        f"char acc {record['character_accuracy']:.2%}  "
        if validated
        else ""
    )
    return (
        f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  {validation}"
        f"{record['images_per_s']:.0f} img/s  {record['elapsed_s'] / 60:.1f} min"
        + (f"  ~{duration(left_s)} left" if left_s is not None else "")
        + (("  (best, saved)" if validated else "  (saved)") if improved else "")
    )


def plan_line(
    images: int,
    config: TrainConfig,
    steps: int,
    epochs: int | None,
    minutes: float | None,
    fine_tuning: bool = False,
    repeated: int | None = None,
    synthetic: int = 0,
) -> str:
    """What training is about to do, said before the first step."""
    budget = f"{duration(minutes * 60)} (--max-minutes)" if minutes else None
    if epochs is None:
        length = f"as many epochs as fit in {budget}"
    else:
        length = f"{epochs:,} epoch{'s' * (epochs != 1)} ({epochs * steps:,} steps)"
        length += f" or {budget}, whichever ends first" if budget else ", no time limit"
        if config.epochs is None and minutes is None:
            least = least_steps(fine_tuning, rehearsing=synthetic > 0)
            when = " when fine-tuning" + " with rehearsal" * (synthetic > 0) if fine_tuning else ""
            length += (
                f" (the default{when}: {DEFAULT_EPOCHS} "
                f"epochs and at least {least:,} steps; --epochs or --max-minutes change it)"
            )
    return (
        f"plan: {images:,} training images"
        + (f" (repeated to {repeated:,} per epoch)" if repeated and repeated > images else "")
        + (f" + {synthetic:,} synthetic per epoch (--rehearse)" if synthetic else "")
        + f", batch {config.batch_size}, {steps:,} steps per "
        f"epoch; {length}; time estimate after the first epoch"
    )


def estimate_line(epoch_s: float, total_s: float | None) -> str:
    """Said once the first epoch is timed."""
    whole = f": the plan takes ~{duration(total_s)} in all" if total_s is not None else ""
    return f"one epoch takes ~{duration(epoch_s)}{whole}"


def duration(seconds: float) -> str:
    """12 s, 3.2 min, 1.5 h."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def draw_curves(run_dir: Path) -> None:
    from ctcocr.training.curves import plot_training_curves

    plot_training_curves(run_dir / METRICS, run_dir / CURVES)
