"""Training from packed shards (`packing.py`): streamed, and opened in the loader workers.

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
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import DataError, ImageError
from ctcocr.data.images import load_image, preprocess
from ctcocr.data.packing import Shard, ShardSet, read_shard
from ctcocr.training.datasets import Item, _replay
from ctcocr.training.distributed import Context

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
        fresh = itertools.islice(self._items(mine, rng), share)  # each read once, shuffled
        yield from _replay(fresh, share, 1, self.buffer, rng)

    def _items(self, mine: list[Shard], rng: random.Random) -> Iterator[Item]:
        """This slot's images without end (the consumer stops), its shards reshuffled each pass."""
        while True:
            found = False
            for shard in mine:
                for key, extension, data, label in read_shard(shard.path):
                    name = f"{shard.path}: {key}.{extension}"
                    item = _read_item(name, data, label, self.config, self.skip_bad)
                    if item is not None:
                        found = True
                        yield item
            if not found:  # nothing readable: stop rather than loop forever
                return
            rng.shuffle(mine)


def _read_item(
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
    """Images held as their file bytes (a held-out shard), opened on access."""

    def __init__(self, records: Sequence[Encoded], config: PreprocessConfig) -> None:
        self.records, self.config = list(records), config

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Item:
        name, data, label = self.records[index]
        return torch.from_numpy(preprocess(load_image(data, name), self.config)), label


def read_checked(shards: ShardSet, skip_bad: bool) -> list[Encoded]:
    """Every image of `shards`, opened once to check it; bad ones listed as for files."""
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
