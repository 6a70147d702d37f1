"""Training from packed shards (`packing.py`): streamed, and decoded in the loader workers.

Each epoch the shards are shuffled and dealt out to the (rank, loader worker) slots. A slot
reads its shards front to back through a shuffle buffer and yields exactly its share of the
epoch, reading its shards again if they hold fewer images than that share: equal shares keep
DDP ranks in step. With many more shards than ranks x workers, an epoch reads each image
about once. Every image goes through `images.preprocess`, as everywhere else.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, TrainConfig
from ctcocr.core.errors import DataError, ImageError, LabelError
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.images import PreprocessConfig, load_image, preprocess
from ctcocr.data.packing import Shard, ShardSet, is_packed, open_shards, read_shard
from ctcocr.data.samples import Sample, check_images, read_samples
from ctcocr.training.datasets import Item, _replay
from ctcocr.training.distributed import Context

if TYPE_CHECKING:
    from ctcocr.training.loop import TrainingData

Encoded = tuple[str, bytes, str]  # (name for messages, image bytes, label)


class ShardStream(IterableDataset[Item]):
    """One epoch of this rank's share of the shards' images, split across loader workers."""

    def __init__(
        self,
        shards: ShardSet,
        config: PreprocessConfig,
        seed: int,
        epoch: int,
        ranks: Context,
        skip_bad: bool = False,
        buffer: int = 1000,
    ) -> None:
        self.shards, self.config, self.seed, self.epoch = shards, config, seed, epoch
        self.rank, self.world, self.skip_bad, self.buffer = (
            ranks.rank,
            ranks.world_size,
            skip_bad,
            buffer,
        )
        self.size = ranks.share(shards.count)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Item]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        slot, slots = self.rank * workers + worker, self.world * workers
        share = self.size // workers + (1 if worker < self.size % workers else 0)
        order = list(self.shards.shards)
        random.Random(f"{self.seed}:{self.epoch}").shuffle(order)  # the same on every rank
        mine = order[slot::slots] or [order[slot % len(order)]]
        rng = random.Random(f"{self.seed}:{self.epoch}:{slot}")
        fresh = itertools.islice(self._decoded(mine, rng), share)  # each read once, shuffled
        yield from _replay(fresh, share, 1, self.buffer, rng)

    def _decoded(self, mine: list[Shard], rng: random.Random) -> Iterator[Item]:
        """This slot's images without end (the consumer stops), its shards reshuffled each pass."""
        while True:
            found = False
            for shard in mine:
                for key, extension, data, label in read_shard(shard.path):
                    name = f"{shard.path}: {key}.{extension}"
                    item = _decode(name, data, label, self.config, self.skip_bad)
                    if item is not None:
                        found = True
                        yield item
            if not found:  # nothing readable: stop rather than loop forever
                return
            rng.shuffle(mine)


def _decode(
    name: str, data: bytes, label: str, config: PreprocessConfig, skip_bad: bool
) -> Item | None:
    try:
        return torch.from_numpy(preprocess(load_image(data, name), config)), label
    except ImageError:
        if not skip_bad:
            raise
        print(f"skipped unreadable image {name} (--skip-bad)", file=sys.stderr, flush=True)
        return None


class EncodedImages(Dataset[Item]):
    """Images held as their file bytes (a held-out shard), decoded on access."""

    def __init__(self, records: Sequence[Encoded], config: PreprocessConfig) -> None:
        self.records, self.config = list(records), config

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Item:
        name, data, label = self.records[index]
        return torch.from_numpy(preprocess(load_image(data, name), self.config)), label


def read_checked(shards: ShardSet, skip_bad: bool) -> list[Encoded]:
    """Every image of `shards`, decoded once to check it; bad ones listed as for files."""
    good, bad = [], []
    for shard in shards.shards:
        for key, extension, data, label in read_shard(shard.path):
            name = f"{shard.path}: {key}.{extension}"
            try:
                load_image(data, name)
            except ImageError:
                bad.append(name)
            else:
                good.append((name, data, label))
    if bad and not skip_bad:
        listing = "\n  ".join(bad)
        raise DataError(
            f"{len(bad)} unreadable image(s); remove them or pass --skip-bad:\n  {listing}"
        )
    if not good:
        raise DataError(f"{shards.shards[0].path}: no readable images are left: check the data")
    return good


def shard_data(
    source: Path,
    val_path: Path | None,
    config: TrainConfig,
    charset: str | None,
    preprocess_config: PreprocessConfig,
    model: ModelConfig,
    time_steps_given: bool,
    label_pattern: str,
    log: Callable[[str], None],
) -> tuple[TrainingData, RunSpec, dict[str, Any]]:
    """Shards to train on, a validation set, the spec -> (TrainingData, RunSpec, summary).

    Validation: --val (files or shards) when given, else the last shard, held out.
    """
    from ctcocr.training.loop import TrainingData
    from ctcocr.training.prepare import time_steps_for  # prepare imports train, which imports this

    train = open_shards(source)
    val: list[Sample] | EncodedImages
    if val_path is not None and not is_packed(val_path):
        val, _ = check_images(read_samples(val_path, label_pattern), config.skip_bad)
        labels = [s.label for s in val]
    else:
        if val_path is None:
            train, held = train.hold_out_last(source)
            log(f"no --val given: held out the last shard, {held.shards[0].path}, for validation")
        else:
            held = open_shards(val_path)
        records = read_checked(held, config.skip_bad)
        val, labels = EncodedImages(records, preprocess_config), [r[2] for r in records]
    seen = set(train.chars) | {c for label in labels for c in label}
    chars = Charset(charset) if charset else Charset("".join(sorted(seen)))
    outside = "".join(sorted(seen - set(chars.chars)))
    if outside:
        raise LabelError(
            f"{source}: labels hold {outside!r}, outside the charset {chars.chars!r}: "
            "add them to --charset"
        )
    longest = max(train.longest, *map(len, labels))
    model = time_steps_for(model, preprocess_config.width, max(1, longest), time_steps_given)
    spec = RunSpec(chars, preprocess_config, model)
    summary = {"source": str(source), "shards": len(train.shards), "train": train.count}
    return TrainingData(val=val, shards=train), spec, {**summary, "val": len(val)}
