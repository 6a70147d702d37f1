"""The training loop: AdamW, a one-cycle or cosine schedule, CTC loss, best-on-validation.

`fit` takes everything it needs as arguments (no globals), so a later launcher can run it in
several processes: under torchrun it trains with DistributedDataParallel (`distributed.py`).
It trains in float32 by default, with TF32 matrix products on CUDA: on an H200 the default
networks at batch 64 stepped 8-39% faster than under bf16 autocast, which pays only for
wider networks at batch 512 or more (`--amp`; `benchmarks/throughput.py --device cuda`). On a
CPU bf16 autocast measured 9-12x slower (AVX2). Channels-last measured +21-51% on the CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import WEIGHTS, RunSpec, write_spec
from ctcocr.data.rare import rare_note
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.evaluation.scores import Scores, score
from ctcocr.network.model import ctc_loss
from ctcocr.network.weights import build_network, load_resume_state
from ctcocr.training import distributed
from ctcocr.training.distributed import Context
from ctcocr.training.loaders import ONE_PROCESS, TrainingData, epoch_loader, make_loader
from ctcocr.training.outputs import (
    Log,
    draw_curves,
    epoch_line,
    epoch_record,
    fit_temperature,
    print_line,
    save_epoch,
    silent,
)
from ctcocr.training.tensorboard_log import ScalarLog

__all__ = ["Log", "Progress", "Trainer", "TrainingData", "fit", "print_line", "validate"]


@dataclass
class Progress:
    """What survives a restart: stored in last.pt after every epoch."""

    epoch: int = 0
    step: int = 0
    elapsed_s: float = 0.0
    best_accuracy: float = -1.0
    best_epoch: int = 0
    best_loss: float = math.inf  # breaks ties in accuracy (e.g. at 100% on a small val set)


def pick_device(name: str) -> torch.device:
    """'auto', 'cpu', 'cuda' or 'cuda:N' -> a device that exists here, or ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"--device {name}: this machine has {count} CUDA device(s): use cpu")
    elif device.type != "cpu":
        raise ConfigError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    return device


def learning_rate(progress: float, config: TrainConfig) -> float:
    """progress in [0, 1] -> learning rate. onecycle: 5% linear warm-up, then cosine to ~0."""
    progress = min(max(progress, 0.0), 1.0)
    warmup = 0.05 if config.schedule == "onecycle" else 0.0
    if progress < warmup:
        return config.lr * (0.04 + 0.96 * progress / warmup)
    remaining = (progress - warmup) / (1.0 - warmup)
    return config.lr * (0.001 + 0.999 * 0.5 * (1.0 + math.cos(math.pi * remaining)))


class Trainer:
    """One network, its optimizer and the clock; `fit` drives it epoch by epoch."""

    def __init__(self, spec: RunSpec, config: TrainConfig) -> None:
        # Under torchrun: joins the other ranks; this rank's GPU is cuda:LOCAL_RANK.
        self.ranks, self.device = distributed.start(pick_device(config.device))
        if self.device.type == "cpu":
            torch.set_num_threads(self.ranks.cpu_threads())
        _tune_cuda(self.device)
        torch.manual_seed(config.seed)
        self.network = build_network(spec).to(self.device)
        self.network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        # What the training steps call (compiled, in DDP); self.network is what gets saved.
        self.model = distributed.wrap(
            self.network, self.ranks, self.device, config.compile, config.seed
        )
        self.optimizer = torch.optim.AdamW(
            self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.config, self.progress = config, Progress()
        self.amp = _autocast(self.device, config.amp)
        fp16 = self.amp.device == "cuda" and self.amp.fast_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(enabled=fp16)
        self.clock = time.monotonic()

    def tick(self) -> float:
        """Update and return the wall time spent, counted across resumes (rank 0's clock)."""
        self.progress.elapsed_s = self.ranks.agree(time.monotonic() - self.clock)
        return self.progress.elapsed_s

    def state(self) -> dict[str, Any]:
        return {
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "progress": asdict(self.progress),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = Progress(**state["progress"])
        self.clock = time.monotonic() - self.progress.elapsed_s

    def train_epoch(
        self, loader: DataLoader, total_steps: int | None, budget_s: float
    ) -> tuple[float, int]:
        """One pass over the loader -> (mean loss, images). Stops when the budget runs out."""
        self.network.train()
        progress, optimizer = self.progress, self.optimizer
        loss_sum, batches, images = 0.0, 0, 0
        quiet = None if self.ranks.is_main else True  # None: a bar only on a terminal
        bar = tqdm(
            loader, desc=f"epoch {progress.epoch + 1}", unit="batch", leave=False, disable=quiet
        )
        # DDP: every rank must take the same number of steps, or one waits for the others forever.
        steps = self.ranks.least(len(loader)) if self.ranks.distributed else None
        for batch_images, targets, lengths, _ in bar:
            done = max(
                progress.step / total_steps if total_steps else 0.0,
                progress.elapsed_s / budget_s if math.isfinite(budget_s) else 0.0,
            )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(done, self.config)
            batch_images = batch_images.to(
                self.device, non_blocking=True, memory_format=torch.channels_last
            )
            with self.amp:
                logits = self.model(batch_images)  # (B, T, C)
            loss = ctc_loss(logits, targets, lengths)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 5.0)
            self.scaler.step(optimizer)
            self.scaler.update()
            progress.step += 1
            loss_sum, batches, images = loss_sum + loss.item(), batches + 1, images + len(lengths)
            bar.set_postfix(loss=f"{loss_sum / batches:.3f}", refresh=False)
            if self.tick() >= budget_s or batches == steps:
                break
        bar.close()
        self.ranks.sync_buffers(self.network)
        return self.ranks.mean(loss_sum / max(1, batches)), int(self.ranks.total(images))


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
    trainer = Trainer(spec, config)
    ranks = trainer.ranks
    # before any file is written, so that a missing tensorboard costs nothing
    scalars = ScalarLog(run_dir) if config.tensorboard and ranks.is_main else None
    log = log if ranks.is_main else silent
    state = ranks.from_main(lambda: load_resume_state(run_dir)) if resume else None
    if state is None:
        from ctcocr.training.finetune import start_weights

        log(start_weights(trainer.network, spec, data, init))
    if state is not None:
        trainer.load_state(state)
        done = trainer.progress
        log(f"resuming {run_dir} after epoch {done.epoch} ({done.elapsed_s / 60:.1f} min)")
    elif resume:
        log(f"nothing to resume in {run_dir}: starting a new run")
    if ranks.is_main:
        write_spec(run_dir, spec)
    if data.train is not None and (note := rare_note(data.train, config.repeat_rare)):
        log(note)
    val_loader = make_loader(data.val, spec, config, shuffle=False, workers=0, ranks=ranks)
    epochs, minutes = config.limits(len(epoch_loader(data, spec, config, 0, ranks)))
    budget_s = minutes * 60 if minutes else math.inf
    progress, last_drawn = trainer.progress, time.monotonic()
    while (epochs is None or progress.epoch < epochs) and trainer.tick() < budget_s:
        loader = epoch_loader(data, spec, config, progress.epoch, ranks)
        total_steps = epochs * len(loader) if epochs else None
        started = time.monotonic()
        train_loss, images = trainer.train_epoch(loader, total_steps, budget_s)
        images_per_s = images / max(1e-9, time.monotonic() - started)
        val_loss, scores = validate(trainer.network, val_loader, spec, trainer.device, ranks)
        trainer.tick()
        progress.epoch += 1
        improved = (scores.sequence_accuracy, -val_loss) > (
            progress.best_accuracy,
            -progress.best_loss,
        )  # the same on every rank: validation is reduced across ranks
        if improved:
            progress.best_accuracy, progress.best_epoch = scores.sequence_accuracy, progress.epoch
            progress.best_loss = val_loss
        record = epoch_record(
            progress, train_loss, val_loss, scores, trainer.optimizer, images_per_s
        )
        if ranks.is_main:  # the other ranks hold the same model: rank 0 writes
            last_drawn = save_epoch(run_dir, trainer, record, improved, last_drawn)
            if scalars is not None:
                scalars.write(record)
        log(epoch_line(record, improved))
        if config.patience and progress.epoch - progress.best_epoch >= config.patience:
            log(f"no better validation for {config.patience} epochs: stopping (--patience)")
            break
    if ranks.is_main:
        draw_curves(run_dir)
        if (run_dir / WEIGHTS).exists():  # under torchrun: on rank 0's share of validation
            fit_temperature(run_dir, spec, val_loader, trainer.device, log)
        if scalars is not None:
            scalars.close()
    ranks.finish()
    return progress


def _autocast(device: torch.device, enabled: bool = True) -> torch.autocast:
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _tune_cuda(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input size: worth timing the kernels once
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in float32


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
