"""One network, its AdamW optimizer, the learning-rate schedule and the clock: the training step.

It trains in float32 by default, with TF32 matrix products on CUDA: on an H200 the default
networks at batch 64 stepped 8-39% faster than under bf16 autocast, which pays only for
wider networks at batch 512 or more (`--amp`; `benchmarks/throughput.py --device cuda`). On a
CPU bf16 autocast measured 9-12x slower (AVX2). Channels-last measured +21-51% on the CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import RunSpec
from ctcocr.network.model import ctc_loss
from ctcocr.network.weights import build_network
from ctcocr.training import distributed
from ctcocr.training.distill import distillation_loss, load_teacher


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

    def __init__(self, spec: RunSpec, config: TrainConfig, files: bool = False) -> None:
        """`files`: the data is image files (augmented per image), not a synthetic stream or
        shards; on the CPU it then leaves the loader more of the cores (Context.cpu_split)."""
        # Under torchrun: joins the other ranks; this rank's GPU is cuda:LOCAL_RANK.
        self.ranks, self.device = distributed.start(pick_device(config.device))
        on_cpu = self.device.type == "cpu"
        threads, self.workers = self.ranks.cpu_split(
            config.threads, config.workers, files and on_cpu
        )
        if on_cpu:
            torch.set_num_threads(threads)
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
        self.teacher = load_teacher(config.teacher, spec, self.device) if config.teacher else None
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
            if self.teacher is not None:
                with torch.no_grad(), self.amp:
                    taught = self.teacher(batch_images)
                loss = loss + distillation_loss(logits, taught, lengths)
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


def _autocast(device: torch.device, enabled: bool = True) -> torch.autocast:
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _tune_cuda(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input size: worth timing the kernels once
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in float32
