"""Torch datasets: files on disk, or CAPTCHAs synthesised without end in loader workers.

Both yield (image tensor (C, H, W), label) through `images.preprocess`, the function inference
uses too; `collate` packs a batch into the layout CTC loss wants.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ctcocr.core.charset import Charset
from ctcocr.core.config import PreprocessConfig
from ctcocr.data.augment import AugmentConfig, augment, shrink
from ctcocr.data.images import flatten, load_image, preprocess, to_model_input
from ctcocr.data.samples import Sample
from ctcocr.data.synth import CaptchaSynth, SynthConfig

Item = tuple[torch.Tensor, str]


class ImageDataset(Dataset[Item]):
    """Labelled image files, opened, optionally augmented, and preprocessed on access.

    Augmentation is seeded by (seed, epoch, index): the same run sees the same variants."""

    def __init__(
        self,
        samples: Sequence[Sample],
        config: PreprocessConfig,
        augmentation: AugmentConfig | None = None,
        seed: int = 0,
        epoch: int = 0,
    ) -> None:
        self.samples = list(samples)
        self.config = config
        self.augmentation, self.seed, self.epoch = augmentation, seed, epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Item:
        sample = self.samples[index]
        # preprocess = flatten, then to_model_input; augmenting goes between the two, since it
        # keeps one frame of an animation and moves the colours that --keep-color selects
        image = flatten(load_image(sample.path), self.config)
        if self.augmentation is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            image = shrink(image, 2 * self.config.width, 2 * self.config.height)
            image = augment(image, self.augmentation, rng)
        return torch.from_numpy(to_model_input(image, self.config)), sample.label


class SyntheticStream(IterableDataset[Item]):
    """One epoch of `size` synthetic items, split across loader workers.

    Drawing a CAPTCHA costs about as much CPU as a training step on it, so each fresh image
    is reused `reuse` times, drawn at random from a buffer of recent images so that the
    repeats land in different batches. Epoch `e` draws fresh images from its own index range,
    so a resumed run sees the images it would have seen.
    """

    def __init__(
        self,
        synth: SynthConfig,
        config: PreprocessConfig,
        seed: int,
        epoch: int,
        size: int,
        reuse: int = 1,
        buffer: int = 512,
    ) -> None:
        self.synth, self.config, self.seed = synth, config, seed
        self.epoch, self.size, self.reuse, self.buffer = epoch, size, max(1, reuse), buffer

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Item]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        share = self.size // workers + (1 if worker < self.size % workers else 0)
        fresh = math.ceil(self.size / self.reuse) + workers  # + workers: rounding slack
        synth = CaptchaSynth(self.synth, self.seed)
        indices = range(self.epoch * fresh + worker, (self.epoch + 1) * fresh, workers)
        rng = random.Random(f"{self.seed}:{self.epoch}:{worker}")
        yield from _replay(
            (self._make(*synth.sample(i)) for i in indices), share, self.reuse, self.buffer, rng
        )

    def _make(self, image: object, label: str) -> Item:
        return torch.from_numpy(preprocess(image, self.config)), label  # type: ignore[arg-type]


def _replay(
    fresh: Iterator[Item], count: int, reuse: int, capacity: int, rng: random.Random
) -> Iterator[Item]:
    """Yield up to `count` items, each fresh item `reuse` times, in shuffled order."""
    pool: list[tuple[Item, int]] = []  # (item, uses left)

    def take() -> Item:
        slot = rng.randrange(len(pool))
        item, uses = pool[slot]
        if uses == 1:
            pool[slot] = pool[-1]
            pool.pop()
        else:
            pool[slot] = (item, uses - 1)
        return item

    emitted, fill = 0, min(capacity, count)
    for item in fresh:
        pool.append((item, reuse))
        if len(pool) < fill:
            continue
        for _ in range(reuse):
            if emitted == count:
                return
            yield take()
            emitted += 1
    while pool and emitted < count:  # the fresh range ran out: drain what is left
        yield take()
        emitted += 1


def collate(
    batch: list[Item], charset: Charset
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """-> images (B, C, H, W), targets (sum of lengths,), target lengths (B,), labels."""
    images = torch.stack([image for image, _ in batch])
    labels = [label for _, label in batch]
    encoded = [charset.encode(label) for label in labels]
    targets = torch.tensor([i for codes in encoded for i in codes], dtype=torch.long)
    lengths = torch.tensor([len(codes) for codes in encoded], dtype=torch.long)
    return images, targets, lengths, labels


class SyntheticItems(Dataset[Item]):
    """`size` synthetic items of one epoch, drawn when asked for by index: a map-style set to
    mix with image files (rehearsal, TrainConfig.rehearse). Epoch `e` draws its own indices."""

    def __init__(
        self, synth: SynthConfig, config: PreprocessConfig, seed: int, epoch: int, size: int
    ) -> None:
        self.synth, self.config, self.seed, self.epoch, self.size = synth, config, seed, epoch, size
        self._drawer: CaptchaSynth | None = None  # made in the worker that draws

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Item:
        if self._drawer is None:
            self._drawer = CaptchaSynth(self.synth, self.seed)
        image, label = self._drawer.sample(self.epoch * self.size + index)
        return torch.from_numpy(preprocess(image, self.config)), label


class InMemory(Dataset[Item]):
    """Items already preprocessed, e.g. a synthetic validation set drawn once."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Item:
        return self.items[index]


def synthetic_set(synth: SynthConfig, config: PreprocessConfig, seed: int, size: int) -> InMemory:
    """A fixed set of `size` synthetic items (validation or test), drawn once."""
    return InMemory(list(SyntheticStream(synth, config, seed=seed, epoch=0, size=size)))
