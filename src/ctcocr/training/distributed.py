"""Several training processes as one: DistributedDataParallel under `torchrun`.

    torchrun --nproc_per_node=2 -m ctcocr train data/ --out runs/ddp

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; `start` reads them, joins the
process group (nccl on CUDA, gloo on a CPU) and returns a `Context`. Without them it returns the
single-process context, whose every method is a no-op, so `fit` has one code path.

What keeps the ranks in step (a rank that takes one step more than another waits forever in
DDP's gradient all-reduce):
- the clock is rank 0's (`agree`), so a --max-minutes budget stops every rank at the same step
  and the learning rate, which follows the clock, is the same everywhere;
- every rank takes the same number of steps per epoch (`least`);
- validation is split across ranks and the decoded texts are gathered, so that every rank scores
  the same lists and takes the same "best so far" decision;
- BatchNorm statistics are copied from rank 0 after each epoch, so all ranks hold one model.
Files (checkpoints, metrics, curves) and log lines come from rank 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler, IterableDataset, Sampler

from ctcocr.core.errors import ConfigError

T = TypeVar("T")
# Synthetic streams of rank r use seed + r * RANK_SEED_STRIDE: far from the validation offset
# (prepare.VALIDATION_SEED_OFFSET = 1,000,003), which is not a multiple of it.
RANK_SEED_STRIDE = 10_000_019


@dataclass(frozen=True)
class Context:
    """Where this process sits among the training processes. rank 0 is the one that writes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def cpu_threads(self) -> int:
        """torch threads: the cores this process may use, shared by the processes running on
        this machine. The affinity mask, not the machine's count: under `taskset` or a
        container's cpuset, more threads than cores spin-wait on each other (10x slower)."""
        return max(1, _usable_cores() // self.local_world_size)

    def cpu_split(self, threads: int, workers: int, files: bool) -> tuple[int, int]:
        """(torch threads, loader processes) for this rank's share of the cores, from --threads
        (0: pick) and --workers (-1: pick).

        A synthetic stream or shards cost the loader little per image (a drawn image is used
        4 times): the network takes every core, the loader one process per core beyond the
        first. Image files on the CPU (`files`) are opened and augmented anew for every image,
        and rehearsal draws fresh ones beside them: on 2 cores the loader process kept busy
        the core the network's second thread waited for, and one thread beside it trained
        29% faster on files alone and 49% faster with rehearsal (docs/guide.md#cores). So
        files split the cores: half to the loader (at least one process), the rest to the
        network (more than 2 cores: not measured)."""
        share = self.cpu_threads()
        if workers < 0:
            workers = max(1, share // 2) if files else max(1, share - 1)
        if threads <= 0:
            threads = max(1, share - workers) if files else share
        return threads, workers

    def stream_seed(self, seed: int) -> int:
        """A seed for this rank's synthetic stream; rank 0 keeps the single-process seed."""
        return seed + self.rank * RANK_SEED_STRIDE

    def share(self, size: int) -> int:
        """Items per rank for an epoch of `size` items (the same on every rank)."""
        return -(-size // self.world_size)

    def agree(self, value: float) -> float:
        """Rank 0's value, on every rank (a float: the clock, a stop decision)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def least(self, count: int) -> int:
        """The smallest `count` over all ranks."""
        return int(self._reduce(count, dist.ReduceOp.MIN))

    def total(self, value: float) -> float:
        """The sum of `value` over all ranks."""
        return self._reduce(value, dist.ReduceOp.SUM)

    def mean(self, value: float) -> float:
        return self.total(value) / self.world_size

    def gather(self, items: list[T]) -> list[T]:
        """Every rank's list, concatenated in rank order, on every rank."""
        if not self.distributed:
            return items
        parts: list[list[T] | None] = [None] * self.world_size
        dist.all_gather_object(parts, items)
        return [item for part in parts for item in part or []]

    def from_main(self, load: Callable[[], T]) -> T:
        """Call `load` on rank 0 only and hand its result to every rank.

        Used for the resume state, so that other nodes need not share rank 0's file system.
        """
        if not self.distributed:
            return load()
        box: list[Any] = [load() if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[no-any-return]

    def sync_buffers(self, network: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

        DDP averages gradients, so parameters stay equal, but each rank updates its running
        statistics from its own last batches.
        """
        if not self.distributed:
            return
        for buffer in network.buffers():
            dist.broadcast(buffer.data, src=0)

    def finish(self) -> None:
        """Wait for every rank, then leave the group if `start` joined it."""
        if self.distributed:
            dist.barrier()
        if self.owns_group:
            dist.destroy_process_group()

    def _reduce(self, value: float, op: dist.ReduceOp.RedOpType) -> float:
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor, op=op)
        return float(tensor.item())


def _collective_device() -> torch.device:
    """nccl moves only CUDA tensors; gloo only CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def context_from_env(environ: dict[str, str] | None = None) -> Context:
    """The torchrun variables -> Context; none set -> the single-process context."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", "0"))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be integers: "
            "launch with torchrun, which sets them"
        ) from None
    if not 0 <= rank < world or not 0 <= local_rank < max(1, local_world):
        raise ConfigError(f"RANK={rank}, LOCAL_RANK={local_rank} do not fit WORLD_SIZE={world}")
    return Context(rank, world, local_rank, max(1, local_world))


def start(device: torch.device, timeout_minutes: float = 30.0) -> tuple[Context, torch.device]:
    """Join the process group when launched by torchrun -> (context, this rank's device).

    On CUDA each process takes GPU LOCAL_RANK and talks over nccl; on a CPU over gloo. A group
    the caller already set up is used as it is (and left to the caller to close).
    """
    if dist.is_available() and dist.is_initialized():
        local = context_from_env()
        context = Context(
            dist.get_rank(), dist.get_world_size(), local.local_rank, local.local_world_size
        )
        return context, _rank_device(device, context)
    context = context_from_env()
    if not context.distributed:
        return context, device
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed: train in one process")
    device = _rank_device(device, context)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        rank=context.rank,
        world_size=context.world_size,
        timeout=timedelta(minutes=timeout_minutes),
        device_id=device if device.type == "cuda" else None,
    )
    return Context(
        context.rank,
        context.world_size,
        context.local_rank,
        context.local_world_size,
        owns_group=True,
    ), device


def _rank_device(device: torch.device, context: Context) -> torch.device:
    if device.type != "cuda" or not context.distributed:
        return device
    count = torch.cuda.device_count()
    if context.local_rank >= count:
        raise ConfigError(
            f"LOCAL_RANK {context.local_rank} but this node has {count} GPU(s): "
            f"use --nproc_per_node={count} or fewer"
        )
    torch.cuda.set_device(context.local_rank)
    return torch.device("cuda", context.local_rank)


def wrap(
    network: nn.Module, context: Context, device: torch.device, compile: bool, seed: int
) -> nn.Module:
    """The module the training steps call: `network`, compiled if asked, in DDP if distributed.

    `network` itself stays the plain module (no `module.` or `_orig_mod.` prefixes) for saving
    and validation; the wrappers share its parameters.
    """
    model: nn.Module = network
    if compile:
        model = torch.compile(model)  # type: ignore[assignment]
    if context.distributed:
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # DDP copied rank 0's weights to every rank; from here on each rank draws its own
        # dropout masks (the same seed everywhere would drop the same units on every rank).
        torch.manual_seed(context.stream_seed(seed))
    return model


def sampler(
    dataset: Dataset, context: Context, shuffle: bool, seed: int, epoch: int
) -> Sampler[int] | list[int] | None:
    """How a map-style dataset is split across ranks (None: one process, or a stream).

    Training: DistributedSampler, reshuffled each epoch, every rank the same length.
    Validation: every world_size-th item from this rank's index, so that each item is scored
    exactly once (DistributedSampler would pad with repeats).
    """
    if not context.distributed or isinstance(dataset, IterableDataset):
        return None
    if not shuffle:
        return list(range(context.rank, len(dataset), context.world_size))  # type: ignore[arg-type]
    split: DistributedSampler[int] = DistributedSampler(
        dataset, context.world_size, context.rank, shuffle=True, seed=seed, drop_last=False
    )
    split.set_epoch(epoch)
    return split


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity masks
        return os.cpu_count() or 1
