"""The DataLoaders training reads: files (augmented in the workers), the endless synthetic
stream, or WebDataset shards; split between ranks under torchrun."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from ctcocr.core.config import TrainConfig
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.augment import AugmentConfig
from ctcocr.data.packing import ShardSet
from ctcocr.data.rare import repeat_rare
from ctcocr.data.samples import Sample
from ctcocr.data.synth import SynthConfig
from ctcocr.training import distributed
from ctcocr.training.datasets import ImageDataset, SyntheticItems, SyntheticStream, collate
from ctcocr.training.distributed import Context
from ctcocr.training.shards import ShardStream

ONE_PROCESS = Context()


def at_least(samples: list[Sample], count: int) -> list[Sample]:
    """`samples` repeated whole as many times as it takes to hold `count` items."""
    repeats = math.ceil(count / max(1, len(samples)))
    return samples * repeats if repeats > 1 else samples


@dataclass(frozen=True)
class TrainingData:
    """Labelled files, a synthetic stream or packed shards for training; a fixed validation set."""

    val: list[Sample] | Dataset
    train: list[Sample] | None = None
    synth: SynthConfig | None = None
    shards: ShardSet | None = None
    augmentation: AugmentConfig | None = None  # for the training files only
    rehearsal: SynthConfig | None = None  # synthetic images mixed with the files
    rehearse: float = 0.0  # their share of each epoch

    @property
    def validates(self) -> bool:
        """False when no image is held out (a few images, fine-tuned): the last epoch is kept."""
        return len(self.val) > 0  # type: ignore[arg-type]


def rehearsal_count(files: int, share: float) -> int:
    """Synthetic images to add to `files` image files for them to be `share` of the epoch."""
    return round(files * share / (1 - share)) if share > 0 else 0


def make_loader(
    dataset: list[Sample] | Dataset,
    spec: RunSpec,
    config: TrainConfig,
    shuffle: bool,
    workers: int,
    epoch: int = 0,
    ranks: Context = ONE_PROCESS,
) -> DataLoader:
    if isinstance(dataset, list):  # validation files: never augmented
        dataset = ImageDataset(dataset, spec.preprocess, None, config.seed, epoch)
    split = distributed.sampler(dataset, ranks, shuffle, config.seed, epoch)  # None: one process
    shuffle_here = shuffle and split is None
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle_here,
        sampler=split,
        generator=generator if shuffle_here else None,
        num_workers=workers,
        collate_fn=partial(collate, charset=spec.charset),
        pin_memory=torch.cuda.is_available(),  # with non_blocking copies in the loop
        drop_last=shuffle and len(dataset if split is None else split) > config.batch_size,  # type: ignore[arg-type]
    )


def epoch_loader(
    data: TrainingData, spec: RunSpec, config: TrainConfig, epoch: int, ranks: Context, workers: int
) -> DataLoader:
    """Epoch `epoch`'s training images, read by `workers` loader processes (Trainer.workers)."""
    if data.synth is not None:
        stream = SyntheticStream(
            data.synth,
            spec.preprocess,
            ranks.stream_seed(config.seed),  # every rank draws other images
            epoch,
            ranks.share(config.epoch_size),
            config.synthetic_reuse,
        )
        return make_loader(stream, spec, config, shuffle=False, workers=workers)
    if data.shards is not None:
        shards = ShardStream(
            data.shards, spec.preprocess, config.seed, epoch, ranks, config.skip_bad
        )
        return make_loader(shards, spec, config, shuffle=False, workers=workers)
    assert data.train is not None
    # --min-epoch-images: an epoch of 45 images spent more time starting its loader,
    # validating and saving than training (1 s per one-step epoch on 2 cores)
    samples = at_least(
        repeat_rare(data.train, config.repeat_rare, config.seed, epoch), config.min_epoch_images
    )
    files = ImageDataset(samples, spec.preprocess, data.augmentation, config.seed, epoch)
    dataset: Dataset = files
    if data.rehearsal is not None and data.rehearse > 0:
        count = rehearsal_count(len(files), data.rehearse)
        synthetic = SyntheticItems(data.rehearsal, spec.preprocess, config.seed, epoch, count)
        dataset = ConcatDataset([files, synthetic])
    return make_loader(
        dataset, spec, config, shuffle=True, workers=workers, epoch=epoch, ranks=ranks
    )
