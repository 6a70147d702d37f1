"""The training loop: epochs of CTC training, best-on-validation, until the budget runs out.

`fit` takes everything it needs as arguments (no globals), so a launcher can run it in
several processes: under torchrun it trains with DistributedDataParallel (`distributed.py`).
The step itself (AdamW, the schedule, precision) is `trainer.Trainer`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ctcocr.core.config import TrainConfig
from ctcocr.core.run_folder import WEIGHTS, RunSpec, write_spec
from ctcocr.data.rare import rare_note
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.evaluation.scores import Scores, score
from ctcocr.network.model import ctc_loss
from ctcocr.training.distributed import Context
from ctcocr.training.finetune import start_weights
from ctcocr.training.loaders import (
    ONE_PROCESS,
    TrainingData,
    at_least,
    epoch_loader,
    make_loader,
    rehearsal_count,
)
from ctcocr.training.outputs import (
    Log,
    calibrate_on_validation,
    draw_curves,
    epoch_line,
    epoch_record,
    estimate_line,
    plan_line,
    print_line,
    save_epoch,
    silent,
    temperature_without_validation,
)
from ctcocr.training.resume_state import load_resume_state
from ctcocr.training.tensorboard_log import ScalarLog
from ctcocr.training.trainer import Progress, Trainer


def fit(
    run_dir: Path,
    spec: RunSpec,
    data: TrainingData,
    config: TrainConfig,
    resume: bool = False,
    log: Log = print_line,
    init: Path | None = None,
) -> Progress:
    """Train, keeping the best weights on validation in run_dir. Returns the final progress.

    `init`: a run folder whose weights start this one (fine-tuning; see finetune.py)."""
    trainer = Trainer(spec, config, files=data.train is not None)
    ranks = trainer.ranks
    # before any file is written, so that a missing tensorboard costs nothing
    scalars = ScalarLog(run_dir) if config.tensorboard and ranks.is_main else None
    log = log if ranks.is_main else silent
    _start(trainer, run_dir, spec, data, resume, init, log)
    val_loader = (
        make_loader(data.val, spec, config, shuffle=False, workers=0, ranks=ranks)
        if data.validates
        else None
    )
    steps = len(epoch_loader(data, spec, config, 0, ranks, trainer.workers))
    images = _epoch_images(data, config)
    repeated = len(at_least(data.train, config.min_epoch_images)) if data.train else images
    synthetic = rehearsal_count(repeated, data.rehearse) if data.rehearsal is not None else 0
    epochs, minutes = config.limits(steps, init is not None, rehearsing=synthetic > 0)
    budget_s = minutes * 60 if minutes else math.inf
    log(plan_line(images, config, steps, epochs, minutes, init is not None, repeated, synthetic))
    progress, last_drawn = trainer.progress, time.monotonic()
    started = (progress.epoch, trainer.tick())  # this session's start, for estimates
    while (epochs is None or progress.epoch < epochs) and trainer.tick() < budget_s:
        record, improved = _epoch(trainer, data, spec, val_loader, epochs, budget_s)
        if ranks.is_main:  # the other ranks hold the same model: rank 0 writes
            state = trainer.state()
            last_drawn = save_epoch(run_dir, trainer.network, state, record, improved, last_drawn)
            if scalars is not None:
                scalars.write(record)
        epoch_s, left_s = _time_left(progress, started, epochs, budget_s)
        log(epoch_line(record, improved, left_s))
        if progress.epoch == started[0] + 1:
            log(estimate_line(epoch_s, progress.elapsed_s + left_s))
        if config.patience and progress.epoch - progress.best_epoch >= config.patience:
            log(f"no better validation for {config.patience} epochs: stopping (--patience)")
            break
    if ranks.is_main:
        draw_curves(run_dir)
        if val_loader is None:
            temperature_without_validation(run_dir, spec, init, log)
        elif (run_dir / WEIGHTS).exists():  # under torchrun: on rank 0's share of validation
            calibrate_on_validation(run_dir, spec, val_loader, trainer.device, log)
        if scalars is not None:
            scalars.close()
    ranks.finish()
    return progress


def _epoch_images(data: TrainingData, config: TrainConfig) -> int:
    """Images in one epoch, before repeats of rare characters."""
    if data.synth is not None:
        return config.epoch_size
    if data.shards is not None:
        return data.shards.count
    return len(data.train or [])


def _time_left(
    progress: Progress, started: tuple[int, float], epochs: int | None, budget_s: float
) -> tuple[float, float]:
    """(seconds per epoch so far in this session, seconds the plan has left): until the last
    epoch, or the end of the time budget if that comes first."""
    epoch_s = (progress.elapsed_s - started[1]) / max(1, progress.epoch - started[0])
    left = (epochs - progress.epoch) * epoch_s if epochs is not None else math.inf
    return epoch_s, max(0.0, min(left, budget_s - progress.elapsed_s))


def _start(
    trainer: Trainer,
    run_dir: Path,
    spec: RunSpec,
    data: TrainingData,
    resume: bool,
    init: Path | None,
    log: Log,
) -> None:
    """The weights to start from (the resume state, `init`'s, or fresh) and config.json."""
    state = trainer.ranks.from_main(lambda: load_resume_state(run_dir)) if resume else None
    if state is not None:
        trainer.load_state(state)
        done = trainer.progress
        log(f"resuming {run_dir} after epoch {done.epoch} ({done.elapsed_s / 60:.1f} min)")
    else:
        log(start_weights(trainer.network, spec, data, init))
        if resume:
            log(f"nothing to resume in {run_dir}: starting a new run")
    if trainer.ranks.is_main:
        write_spec(run_dir, spec)
    if data.train is not None and (note := rare_note(data.train, trainer.config.repeat_rare)):
        log(note)


def _epoch(
    trainer: Trainer,
    data: TrainingData,
    spec: RunSpec,
    val_loader: DataLoader | None,
    epochs: int | None,
    budget_s: float,
) -> tuple[dict[str, Any], bool]:
    """Train one epoch and validate -> (the metrics record, whether it is the best so far).
    Without validation images every epoch is the one kept: the last."""
    progress, ranks = trainer.progress, trainer.ranks
    loader = epoch_loader(data, spec, trainer.config, progress.epoch, ranks, trainer.workers)
    total_steps = epochs * len(loader) if epochs else None
    started = time.monotonic()
    train_loss, images = trainer.train_epoch(loader, total_steps, budget_s)
    images_per_s = images / max(1e-9, time.monotonic() - started)
    validation = (
        validate(trainer.network, val_loader, spec, trainer.device, ranks)
        if val_loader is not None
        else None
    )
    trainer.tick()
    progress.epoch += 1
    improved = validation is None or _better(progress, *validation)
    if improved:
        progress.best_epoch = progress.epoch
        if validation is not None:
            progress.best_loss, scores = validation
            progress.best_accuracy = scores.sequence_accuracy
    record = epoch_record(progress, train_loss, validation, trainer.optimizer, images_per_s)
    return record, improved


def _better(progress: Progress, val_loss: float, scores: Scores) -> bool:
    """Better than the best epoch so far: a higher sequence accuracy, ties to the lower
    validation loss (the same on every rank: validation is reduced across ranks)."""
    return (scores.sequence_accuracy, -val_loss) > (progress.best_accuracy, -progress.best_loss)


@torch.no_grad()
def validate(
    network: torch.nn.Module,
    loader: DataLoader,
    spec: RunSpec,
    device: torch.device,
    ranks: Context = ONE_PROCESS,
) -> tuple[float, Scores]:
    """Mean CTC loss and scores, decoded by the same greedy decoder inference uses.

    In float32, as the saved model is used. Under DDP each rank reads its share of `loader`
    and the texts are gathered, so that every rank scores the whole set.
    """
    network.eval()
    loss_sum, batches, truths, predictions = 0.0, 0, [], []
    for images, targets, lengths, labels in loader:
        logits = network(images.to(device, non_blocking=True, memory_format=torch.channels_last))
        loss_sum += ctc_loss(logits, targets, lengths).item()
        batches += 1
        decoded = ctc_greedy_decode(logits.float().cpu().numpy(), spec.charset)
        truths += labels
        predictions += [p.text for p in decoded]
    truths, predictions = ranks.gather(truths), ranks.gather(predictions)
    return ranks.total(loss_sum) / max(1, ranks.total(batches)), score(truths, predictions)
