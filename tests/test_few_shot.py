"""Fine-tuning on a few dozen labels: rehearsal (synthetic images mixed into each epoch of
image files, `--rehearse`, on by default when fine-tuning a small set, so that the labels do not
make the general model forget), and a charset that keeps the characters of the kinds the labels
show too few times to have shown them all (`same_kinds`)."""

from __future__ import annotations

import json
import string
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FAST

from ctcocr.core.charset import (
    GENERAL_CHARSET,
    SHOWN_ENOUGH,
    Charset,
    same_kinds,
    times_shown,
)
from ctcocr.core.config import (
    DEFAULT_EPOCHS,
    DEFAULT_FINETUNE_STEPS,
    DEFAULT_MIN_STEPS,
    DEFAULT_REHEARSE,
    FEW_SHOT_AUGMENT,
    REHEARSE_BELOW,
    REHEARSE_UNTIL_SHOWN,
    REHEARSED_FINETUNE_STEPS,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.augment import AugmentConfig
from ctcocr.data.samples import Sample
from ctcocr.training.loaders import ONE_PROCESS, TrainingData, epoch_loader, rehearsal_count
from ctcocr.training.outputs import plan_line
from ctcocr.training.prepare import augmentation_for, rehearsal_for

SPEC = RunSpec(Charset("0123456789"), PreprocessConfig(width=96, height=32), ModelConfig())


def _samples(*labels: str) -> list[Sample]:
    return [Sample(Path(f"/nowhere/{label}.png"), label) for label in labels]


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigError, match=f"rehearse={share}"):
        TrainConfig(rehearse=share)


def test_the_count_makes_the_synthetic_images_that_share_of_the_epoch() -> None:
    assert rehearsal_count(1024, 0.5) == 1024
    assert rehearsal_count(300, 0.25) == 100
    assert rehearsal_count(300, 0.0) == 0


def test_on_by_default_only_when_fine_tuning() -> None:
    lines: list[str] = []
    samples = _samples("123", "45678")
    assert rehearsal_for(TrainConfig(), SPEC, samples, [], False, lines.append) == (None, 0.0)
    synth, share = rehearsal_for(TrainConfig(), SPEC, samples, [], True, lines.append)
    assert share == DEFAULT_REHEARSE and synth is not None
    assert (synth.style, synth.charset, synth.min_length, synth.max_length) == (
        "mix", "0123456789", 3, 5
    )  # fmt: skip
    assert (synth.width, synth.height) == (96, 32)  # drawn at the model's input size
    assert "rehearsal: 50% of each epoch is synthetic" in lines[-1]
    # asked for from scratch too; 0 turns the default off
    assert (
        rehearsal_for(TrainConfig(rehearse=0.3), SPEC, samples, [], False, lines.append)[1] == 0.3
    )
    assert rehearsal_for(TrainConfig(rehearse=0), SPEC, samples, [], True, lines.append) == (
        None,
        0,
    )


def test_the_default_leaves_larger_sets_alone() -> None:
    lines: list[str] = []
    many = _samples(*(f"{i:04d}" for i in range(REHEARSE_BELOW)))
    assert rehearsal_for(TrainConfig(), SPEC, many, [], True, lines.append) == (None, 0.0)
    assert rehearsal_for(TrainConfig(), SPEC, many[:-1], [], True, lines.append)[1] == 0.5
    assert rehearsal_for(TrainConfig(rehearse=0.2), SPEC, many, [], True, lines.append)[1] == 0.2


def test_characters_no_font_draws_keep_the_default_only_while_the_rest_are_rare() -> None:
    spec = replace(SPEC, charset=Charset("0123456789京沪"))
    lines: list[str] = []
    few = _samples("京12345", "沪67890")  # each digit once: rehearsal keeps them
    synth, share = rehearsal_for(TrainConfig(), spec, few, [], True, lines.append)
    assert synth is not None and synth.charset == "0123456789" and share == DEFAULT_REHEARSE
    assert "never drawn: 京沪" in lines[-1]
    nine = few * (int(REHEARSE_UNTIL_SHOWN) - 1)  # each digit 9 times: still kept
    assert rehearsal_for(TrainConfig(), spec, nine, [], True, lines.append)[1] == DEFAULT_REHEARSE
    many = few * int(REHEARSE_UNTIL_SHOWN)  # each digit 10 times: the files keep them
    assert rehearsal_for(TrainConfig(), spec, many, [], True, lines.append) == (None, 0.0)
    assert lines[-1].startswith("no synthetic rehearsal: no font draws 京沪")
    assert "10 times each" in lines[-1] and "--rehearse 0.5" in lines[-1]
    asked = TrainConfig(rehearse=0.3)  # asked for: mixed in all the same
    synth, share = rehearsal_for(asked, spec, many, [], True, lines.append)
    assert synth is not None and synth.charset == "0123456789" and share == 0.3
    assert "never drawn: 京沪" in lines[-1]


def test_nothing_drawable_drops_the_default_and_refuses_the_flag() -> None:
    spec = replace(SPEC, charset=Charset("京沪"))
    lines: list[str] = []
    samples = _samples("京沪", "沪")
    assert rehearsal_for(TrainConfig(), spec, samples, [], True, lines.append) == (None, 0.0)
    assert lines[-1].startswith("no synthetic rehearsal:")
    with pytest.raises(ConfigError, match=r"--rehearse 0.5: .*drop --rehearse"):
        rehearsal_for(TrainConfig(rehearse=0.5), spec, samples, [], True, lines.append)


def test_a_colour_filter_is_not_rehearsed() -> None:
    spec = replace(SPEC, preprocess=replace(SPEC.preprocess, keep_color="red"))
    lines: list[str] = []
    samples = _samples("123")
    assert rehearsal_for(TrainConfig(), spec, samples, [], True, lines.append) == (None, 0.0)
    assert "--keep-color" in lines[-1]
    with pytest.raises(ConfigError, match="--keep-color"):
        rehearsal_for(TrainConfig(rehearse=0.2), spec, samples, [], True, lines.append)


def test_each_epoch_mixes_files_and_fresh_synthetic_images(tiny_dataset: Path) -> None:
    from ctcocr.data.samples import read_samples

    files = read_samples(tiny_dataset)[:12]
    charset = Charset.from_labels(s.label for s in files)
    spec = replace(SPEC, charset=charset)
    synth, share = rehearsal_for(TrainConfig(), spec, files, [], True, lambda line: None)
    data = TrainingData(files[:2], files, rehearsal=synth, rehearse=share)
    config = TrainConfig(batch_size=4, min_epoch_images=0, workers=0, repeat_rare=0)
    epochs = []
    for epoch in (0, 1):
        labels = [
            label
            for batch in epoch_loader(data, spec, config, epoch, ONE_PROCESS, workers=0)
            for label in batch[3]
        ]
        epochs.append(labels)
        assert len(labels) == 24  # 12 files + 12 synthetic
        assert set("".join(labels)) <= set(charset.chars)
        assert sum(label in {s.label for s in files} for label in labels) >= 12
    assert sorted(epochs[0]) != sorted(epochs[1])  # each epoch draws new synthetic images


def test_synthetic_reuse_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="synthetic_reuse=0: use at least 1"):
        TrainConfig(synthetic_reuse=0)


def test_fine_tuning_prints_and_records_the_rehearsal(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned"
    result = cli("train", tiny_dataset, "--init", tiny_run, "--out", out, *FAST)
    assert result.code == 0, result.err
    assert "rehearsal: 50% of each epoch is synthetic" in result.out
    assert "synthetic per epoch (--rehearse)" in result.out
    record = json.loads((out / "config.json").read_text())["training"]["data"]["rehearsal"]
    assert record["share"] == DEFAULT_REHEARSE and record["synth"]["style"] == "mix"
    off = cli(
        "train",
        tiny_dataset,
        "--init",
        tiny_run,
        "--out",
        tmp_path / "off",
        "--rehearse",
        "0",
        *FAST,
    )
    assert off.code == 0 and "synthetic" not in off.out


def test_fine_tuning_a_few_images_augments_harder_unless_told() -> None:
    assert FEW_SHOT_AUGMENT > 1
    usual, harder = AugmentConfig(), AugmentConfig().scaled(FEW_SHOT_AUGMENT)
    assert augmentation_for(TrainConfig(), synthetic=False) == usual
    assert augmentation_for(TrainConfig(), synthetic=False, few_shot=True) == harder
    given = TrainConfig(augment_strength=0.5)
    assert augmentation_for(given, synthetic=False, few_shot=True) == AugmentConfig().scaled(0.5)
    assert augmentation_for(TrainConfig(augment=False), synthetic=False, few_shot=True) is None
    assert augmentation_for(TrainConfig(augment_strength=0), synthetic=False, few_shot=True) is None
    assert augmentation_for(TrainConfig(), synthetic=True, few_shot=True) is None


def test_fine_tuning_says_and_records_the_stronger_augmentation(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned"
    result = cli("train", tiny_dataset, "--init", tiny_run, "--out", out, *FAST)
    assert result.code == 0, result.err
    assert f"augmentation: {FEW_SHOT_AUGMENT:g} times the usual strength" in result.out
    recorded = json.loads((out / "config.json").read_text())["training"]["augmentation"]
    assert recorded["rotate_degrees"] == pytest.approx(
        AugmentConfig().rotate_degrees * FEW_SHOT_AUGMENT
    )
    told = tmp_path / "told"
    strength = ("--augment-strength", "1")
    result = cli("train", tiny_dataset, "--init", tiny_run, "--out", told, *strength, *FAST)
    assert result.code == 0 and "times the usual strength" not in result.out
    recorded = json.loads((told / "config.json").read_text())["training"]["augmentation"]
    assert recorded["rotate_degrees"] == AugmentConfig().rotate_degrees
    scratch = cli("train", tiny_dataset, "--out", tmp_path / "scratch", *FAST)
    assert scratch.code == 0 and "times the usual strength" not in scratch.out


def test_rehearse_with_synthetic_data_or_shards_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("train", "--synthetic", "--rehearse", "0.5", "--out", tmp_path / "s", *FAST)
    assert result.code != 0
    assert "--rehearse" in result.err and "--synthetic" in result.err
    assert not (tmp_path / "s" / "config.json").exists()


@pytest.mark.parametrize(
    ("labels", "added"),
    [
        (["abc1"], "023456789defghijklmnopqrstuvwxyz"),
        (["京A1"], "023456789BCDEFGHIJKLMNOPQRSTUVWXYZ"),
        (["12+"], "03456789-×=?"),
        (["京沪"], ""),
        ([GENERAL_CHARSET], ""),
    ],
)
def test_same_kinds_adds_the_unseen_characters_of_each_kind_shown(
    labels: list[str], added: str
) -> None:
    assert same_kinds(Counter("".join(labels)), GENERAL_CHARSET) == added


def test_a_kind_shown_often_enough_is_taken_as_the_whole_alphabet() -> None:
    """50 labels of 5 characters from a 19-character alphabet (captcha_images_v2's): each
    shown character about 13 times, so the letters never shown are not in the alphabet."""
    alphabet = "2345678bcdefgmnpwxy"
    labels = ["".join(alphabet[(i * 7 + j * 3) % 19] for j in range(5)) for i in range(50)]
    assert set("".join(labels)) == set(alphabet)
    assert same_kinds(Counter("".join(labels)), GENERAL_CHARSET) == ""
    # The same alphabet in 3 labels shows each character about once: its kinds are widened.
    few = same_kinds(Counter("".join(labels[:3])), GENERAL_CHARSET)
    assert set(few) == set(string.digits + string.ascii_lowercase) - set("".join(labels[:3]))
    # Per kind: digits shown often (each 6 times) stay as shown, letters shown once widen.
    mixed = Counter({"1": 6, "2": 6, "a": 1, "b": 1})
    assert same_kinds(mixed, GENERAL_CHARSET) == string.ascii_lowercase[2:]
    assert times_shown(mixed, string.digits) == 6 and times_shown(mixed, "xyz") == 0
    # Exactly SHOWN_ENOUGH times each: taken as whole; just under it: widened.
    assert same_kinds(Counter({"a": SHOWN_ENOUGH, "b": SHOWN_ENOUGH}), GENERAL_CHARSET) == ""
    assert same_kinds(Counter({"a": 5, "b": 4}), GENERAL_CHARSET) == string.ascii_lowercase[2:]


def test_labels_of_one_length_end_the_training_with_the_length_constraint() -> None:
    from ctcocr.training.command import length_hint

    out = Path("runs/mine")
    same = TrainingData(val=_samples("12345"), train=_samples("67890", "11111"))
    assert length_hint(same, out) == (
        "every label has 5 characters: `ctcocr predict runs/mine IMAGE --length 5` "
        "(also evaluate, serve ?length=) reads only texts of that length (docs/decoding.md)"
    )
    mixed = TrainingData(val=_samples("1234"), train=_samples("67890", "11111"))
    assert length_hint(mixed, out) is None  # 4 and 5: no single length to keep to
    assert length_hint(TrainingData(val=_samples("12345")), out) is None  # synthetic: no files


def test_fine_tuning_plans_at_least_its_steps_and_more_with_rehearsal():
    config = TrainConfig()
    # 50 labels and as many synthetic images: 32 steps an epoch -> 55 epochs, 1,760 steps
    assert config.limits(32, fine_tuning=True, rehearsing=True) == (55, None)
    assert REHEARSED_FINETUNE_STEPS == 1750
    # the same data without rehearsal (the plates): 600 steps, 19 epochs -> 30
    assert config.limits(32, fine_tuning=True) == (DEFAULT_EPOCHS, None)
    assert config.limits(17, fine_tuning=True) == (-(-DEFAULT_FINETUNE_STEPS // 17), None)
    # a larger set: 30 epochs are already more steps than either minimum
    assert config.limits(100, fine_tuning=True) == (DEFAULT_EPOCHS, None)
    assert config.limits(59, fine_tuning=True, rehearsing=True) == (DEFAULT_EPOCHS, None)
    assert config.limits(32) == (-(-DEFAULT_MIN_STEPS // 32), None)
    # what the user asks wins
    assert replace(config, epochs=5).limits(32, True, True) == (5, None)
    assert replace(config, max_minutes=2.0).limits(32, True, True) == (None, 2.0)
    plan = plan_line(50, config, 32, 55, None, True, 1050, 1050)
    assert "the default when fine-tuning with rehearsal: 30 epochs and at least 1,750" in plan
    plan = plan_line(94, config, 17, 36, None, True, 1050, 0)
    assert "the default when fine-tuning: 30 epochs and at least 600 steps" in plan
