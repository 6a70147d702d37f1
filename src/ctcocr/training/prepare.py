"""Turn what the user pointed at into checked training data and a RunSpec.

Everything that can be wrong with the data is found here, before the first step: missing or
empty paths, unreadable images, labels outside the charset, labels too long for T.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ctcocr.core.charset import GENERAL_CHARSET, Charset, times_shown
from ctcocr.core.config import (
    DEFAULT_REHEARSE,
    DEFAULT_VAL_FRACTION,
    FEW_SHOT_AUGMENT,
    HOLD_OUT_FROM,
    REHEARSE_BELOW,
    REHEARSE_UNTIL_SHOWN,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from ctcocr.core.errors import ConfigError, DataError, LabelError
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.augment import AugmentConfig
from ctcocr.data.packing import ShardSet, is_packed, open_shards
from ctcocr.data.samples import (
    DEFAULT_LABEL_PATTERN,
    Sample,
    check_images,
    check_labels,
    duplicate_paths,
    fold_case,
    read_samples,
    split,
)
from ctcocr.data.synth import SynthConfig
from ctcocr.training.datasets import synthetic_set
from ctcocr.training.loaders import TrainingData
from ctcocr.training.outputs import Log, print_line
from ctcocr.training.shards import EncodedImages, read_checked

# The synthetic validation stream must never overlap the training stream's images.
VALIDATION_SEED_OFFSET = 1_000_003


def time_steps_for(model: ModelConfig, input_width: int, longest: int, asked: bool) -> ModelConfig:
    """Keep the asked-for T if it fits the labels; else pick the smallest T this input width
    allows that is at least 2L + 1 and at least the model's default (the measured best)."""
    needed = 2 * longest + 1
    if asked:
        if model.time_steps < needed:
            raise LabelError(
                f"labels of up to {longest} characters need time_steps >= 2 * {longest} + 1 = "
                f"{needed}, but --time-steps is {model.time_steps}: raise it (with a wider "
                f"--size if needed) or shorten the labels"
            )
        return model
    halvings = range(1, len(model.widths) + 2)
    choices = [input_width // 2**k for k in halvings if input_width % 2**k == 0]
    floor = min(max(needed, model.time_steps), max(choices))
    fitting = [t for t in choices if t >= max(needed, floor)]
    if not fitting:
        raise LabelError(
            f"labels of up to {longest} characters need {needed} time steps, more than "
            f"input width {input_width} allows (at most {max(choices)}): use a wider --size"
        )
    return replace(model, time_steps=min(fitting))


def file_data(
    train_path: Path,
    val_path: Path | None,
    config: TrainConfig,
    charset: str | None,
    label_pattern: str = DEFAULT_LABEL_PATTERN,
    log: Log = print_line,
) -> tuple[list[Sample], list[Sample], Charset]:
    """Read and check labelled files -> (train, val, charset). Without --val, `val` is empty
    and `held_out` splits it from `train` (how much depends on whether the run fine-tunes)."""
    train = _read(train_path, label_pattern, config.ignore_case, log)
    val = _read(val_path, label_pattern, config.ignore_case, log) if val_path is not None else []
    overlap = {s.path.resolve() for s in train} & {s.path.resolve() for s in val}
    if overlap:
        shown = ", ".join(sorted(str(p) for p in overlap)[:5])
        log(
            f"warning: {len(overlap)} image(s) are in both the training and validation data "
            f"({shown}): validation accuracy will be optimistic"
        )
    # One check over both sets, so that every bad file is listed at once.
    good, bad = check_images([*train, *val], config.skip_bad)
    if bad:
        log(f"skipped {len(bad)} unreadable image(s) (--skip-bad)")
    kept = set(good)
    train, val = [s for s in train if s in kept], [s for s in val if s in kept]
    if val_path is not None and not val:
        raise DataError(f"{val_path}: no readable validation images are left")
    # Inferred from all the labels given, so a held-out split never meets an unknown character.
    chars = Charset(charset) if charset else Charset.from_labels(s.label for s in [*train, *val])
    return train, val, chars


def val_share(config: TrainConfig, count: int, fine_tuning: bool) -> float:
    """The share of `count` labelled images held out when no --val is given: --val-fraction,
    else none when fine-tuning on fewer than HOLD_OUT_FROM, else DEFAULT_VAL_FRACTION."""
    if config.val_fraction is not None:
        return config.val_fraction
    return 0.0 if fine_tuning and count < HOLD_OUT_FROM else DEFAULT_VAL_FRACTION


def held_out(
    samples: list[Sample], config: TrainConfig, fine_tuning: bool, log: Log = print_line
) -> tuple[list[Sample], list[Sample]]:
    """(train, val) from the labelled images when no --val is given: a seeded split of
    `val_share`, or every image to train on."""
    share = val_share(config, len(samples), fine_tuning)
    if share == 0:
        why = (
            "--val-fraction 0"
            if config.val_fraction is not None
            else f"fine-tuning on fewer than {HOLD_OUT_FROM} images"
        )
        log(
            f"no --val given and {why}: none of the {len(samples)} images is held out; every "
            f"one trains and the last epoch is kept (--val DATA or --val-fraction "
            f"{DEFAULT_VAL_FRACTION:g} hold some out)"
        )
        return list(samples), []
    train, val = split(samples, share, config.seed)
    log(
        f"no --val given: held out {len(val)} of {len(samples)} images "
        f"(seed {config.seed}) for validation"
    )
    return train, val


def _read(path: Path, label_pattern: str, ignore_case: bool, log: Log) -> list[Sample]:
    """Samples of one data path, each path once (repeats are reported), labels folded if asked."""
    samples, repeated = duplicate_paths(read_samples(path, label_pattern))
    if repeated:
        shown = ", ".join(str(p) for p in repeated[:5])
        log(f"warning: {path}: {len(repeated)} duplicate path(s) listed again, used once: {shown}")
    return fold_case(samples) if ignore_case else samples


def augmentation_for(
    config: TrainConfig, synthetic: bool, few_shot: bool = False
) -> AugmentConfig | None:
    """On by default for image files; synthetic CAPTCHAs are varied already. `few_shot`
    (fine-tuning on fewer than REHEARSE_BELOW images): FEW_SHOT_AUGMENT times as strong,
    unless --augment-strength says."""
    if synthetic:
        if config.augment:
            raise ConfigError(
                "--augment applies to image files; synthetic CAPTCHAs are drawn with random "
                "warps already: drop --augment"
            )
        return None
    strength = augment_strength(config, few_shot)
    if config.augment is False or strength == 0:
        return None
    return AugmentConfig().scaled(strength)


def few_shot(train: list[Sample], fine_tuning: bool) -> bool:
    """Fine-tuning on fewer than REHEARSE_BELOW training images: where the defaults rehearse
    and augment harder (a larger set stands for its kind by itself)."""
    return fine_tuning and len(train) < REHEARSE_BELOW


def augment_strength(config: TrainConfig, few_shot: bool) -> float:
    if config.augment_strength is not None:
        return config.augment_strength
    return FEW_SHOT_AUGMENT if few_shot else 1.0


def rehearsal_for(
    config: TrainConfig,
    spec: RunSpec,
    train: list[Sample],
    val: list[Sample],
    fine_tuning: bool,
    log: Log,
) -> tuple[SynthConfig | None, float]:
    """What to mix into each epoch of image files -> (synthetic style, share), or (None, 0).

    --rehearse, else DEFAULT_REHEARSE when fine-tuning on fewer than REHEARSE_BELOW training
    images (a larger set is its own rehearsal): synthetic CAPTCHAs of the mix style in the
    characters of the data that the fonts draw, at the data's label lengths. Where that cannot
    be drawn, an asked-for --rehearse is an error and the default is dropped, said.

    Where some of the data's characters are drawn by no font (a plate's province characters),
    the synthetic texts lack what every real one has. The default then stays only while the
    labels show their other characters fewer than REHEARSE_UNTIL_SHOWN times each, too few
    to keep them without it (cn_plates_lprnet, docs/general-model.md)."""
    asked = config.rehearse is not None
    share = config.rehearse if asked else DEFAULT_REHEARSE if few_shot(train, fine_tuning) else 0.0
    if not share:
        return None, 0.0
    samples = [*train, *val]
    chars = spec.charset.chars
    drawable = "".join(c for c in chars if c in GENERAL_CHARSET)
    lengths = [len(s.label) for s in samples]
    problem = ""
    if spec.preprocess.keep_color is not None:
        problem = "--keep-color reads one colour, which the mix style does not draw its text in"
    elif not drawable:
        problem = f"the fonts draw none of the data's characters ({chars})"
    else:
        try:
            synth = SynthConfig(
                width=spec.preprocess.width,
                height=spec.preprocess.height,
                min_length=max(1, min(lengths)),
                max_length=max(lengths),
                charset=drawable,
                style="mix",
            )
        except ConfigError as exc:
            problem = str(exc)
    if problem:
        if asked:
            raise ConfigError(f"--rehearse {share:g}: {problem}: drop --rehearse")
        log(f"no synthetic rehearsal: {problem}")
        return None, 0.0
    left_out = "".join(c for c in chars if c not in drawable)
    shown = times_shown(Counter("".join(s.label for s in samples)), drawable)
    if left_out and not asked and shown >= REHEARSE_UNTIL_SHOWN:
        log(
            f"no synthetic rehearsal: no font draws {left_out}, which the data's texts hold, "
            f"and the labels show their other characters {shown:.0f} times each on average, "
            f"enough to keep them; --rehearse {DEFAULT_REHEARSE:g} mixes in those "
            f"{len(drawable)} characters all the same"
        )
        return None, 0.0
    log(
        f"rehearsal: {share:.0%} of each epoch is synthetic (mix style, lengths "
        f"{synth.min_length}-{synth.max_length}, {len(drawable)} of the run's {len(chars)} "
        f"characters{f'; never drawn: {left_out}' if left_out else ''}); --rehearse 0: off"
    )
    return synth, share


def file_spec(
    train: list[Sample],
    val: list[Sample],
    charset: Charset,
    preprocess: PreprocessConfig,
    model: ModelConfig,
    time_steps_given: bool,
) -> RunSpec:
    longest = max(len(s.label) for s in [*train, *val])
    model = time_steps_for(model, preprocess.width, max(1, longest), time_steps_given)
    check_labels([*train, *val], charset, model.max_label_length())
    return RunSpec(charset, preprocess, model)


def synthetic_data(
    synth: SynthConfig,
    preprocess: PreprocessConfig,
    model: ModelConfig,
    config: TrainConfig,
    time_steps_given: bool,
) -> tuple[TrainingData, RunSpec]:
    model = time_steps_for(model, preprocess.width, synth.max_length, time_steps_given)
    val = synthetic_set(synth, preprocess, config.seed + VALIDATION_SEED_OFFSET, config.val_size)
    spec = RunSpec(Charset(synth.charset), preprocess, model)
    return TrainingData(val=val, synth=synth), spec


def with_training_record(
    spec: RunSpec,
    config: TrainConfig,
    data: dict[str, object],
    augmentation: AugmentConfig | None = None,
) -> RunSpec:
    """The spec plus what it was trained with, for config.json."""
    augmented = asdict(augmentation) if augmentation is not None else None
    return replace(
        spec, training={"config": asdict(config), "data": data, "augmentation": augmented}
    )


def shard_data(
    source: Path,
    val_path: Path | None,
    config: TrainConfig,
    charset: str | None,
    preprocess_config: PreprocessConfig,
    model: ModelConfig,
    time_steps_given: bool,
    label_pattern: str,
    log: Log,
) -> tuple[TrainingData, RunSpec, dict[str, Any]]:
    """Shards to train on, a validation set, the spec -> (TrainingData, RunSpec, summary).

    Validation: --val (files or shards) when given, else the last shard, held out.
    """
    train = open_shards(source)
    val: list[Sample] | EncodedImages
    if val_path is not None and not is_packed(val_path):
        val, _ = check_images(read_samples(val_path, label_pattern), config.skip_bad)
        labels, val_print = [s.label for s in val], file_fingerprint(val, val_path)
    else:
        if val_path is None:
            train, held = train.hold_out_last(source)
            log(f"no --val given: held out the last shard, {held.shards[0].path}, for validation")
        else:
            held = open_shards(val_path)
        records = read_checked(held, config.skip_bad)
        val, labels = EncodedImages(records, preprocess_config), [r[2] for r in records]
        val_print = _shards_print(held)
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
    summary["fingerprint"] = {"train": _shards_print(train), "val": val_print}
    return TrainingData(val=val, shards=train), spec, {**summary, "val": len(val)}


def file_fingerprint(samples: Sequence[Sample], source: Path | None) -> dict[str, Any]:
    """What `--resume` compares: the number of images and a SHA-256 of their sorted
    (path, label) pairs, paths relative to the data path (so a moved dataset still matches)."""
    base = Path(".") if source is None else source if source.is_dir() else source.parent
    rows = sorted(f"{os.path.relpath(s.path, base)}\t{s.label}" for s in samples)
    return {"images": len(rows), "sha256": _sha256(rows)}


def _shards_print(shards: ShardSet) -> dict[str, Any]:
    rows = [json.dumps([s.path.name, s.count, s.chars, s.longest]) for s in shards.shards]
    return {"images": shards.count, "sha256": _sha256(rows)}


def _sha256(rows: Sequence[str]) -> str:
    text = "\n".join(rows).encode("utf-8", "backslashreplace")
    return hashlib.sha256(text).hexdigest()


def data_changes(before: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """How the training data fingerprinted `now` differs from `before`, in words; [] when it
    is the same, or when `before` is unknown (a run from before fingerprints)."""
    if before is None or before == now:
        return []
    changes = []
    for part in sorted(set(before) | set(now)):
        old, new = before.get(part), now.get(part)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "images" in old and "images" in new:
            if old["images"] != new["images"]:
                changes.append(f"{part}: {old['images']} images then, {new['images']} now")
            else:
                changes.append(f"{part}: other images or labels (the same count, {new['images']})")
        elif isinstance(old, dict) and isinstance(new, dict):
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            changes += [f"{part} {k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys]
        else:
            changes.append(f"{part}: {old!r} then, {new!r} now")
    return changes
