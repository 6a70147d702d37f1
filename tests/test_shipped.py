"""Shipped models by name: `Recognizer()`, `Recognizer("captcha")`, `--init general`."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import pytest

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import read_spec
from ctcocr.runtime import shipped


@pytest.fixture
def models(tmp_path, monkeypatch, tiny_run, tiny_onnx):
    """A models folder holding `general` (ONNX and run folder) and no `captcha`."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "general.onnx")
    shutil.copytree(tiny_run, folder / "general")
    monkeypatch.setattr(shipped, "MODELS", folder)
    monkeypatch.setattr(shipped, "DEFAULT", "general")
    return folder


def test_names_resolve_to_shipped_files(models, tmp_path, monkeypatch):
    assert shipped.resolve_model(None) == models / "general.onnx"
    assert shipped.resolve_model("general") == models / "general.onnx"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "general").mkdir()  # a path of that name wins over the shipped name
    assert shipped.resolve_model("general") == Path("general")
    assert shipped.init_run("general") == Path("general")


def test_init_names_the_shipped_run_folder(models):
    assert shipped.init_run("general") == models / "general"


def test_a_missing_shipped_model_is_named(models):
    with pytest.raises(ModelFileError, match=r"captcha.*missing from this install"):
        shipped.shipped_path("captcha")
    with pytest.raises(ModelFileError, match="no such shipped model"):
        shipped.shipped_path("nope")
    with pytest.raises(ModelFileError, match=r"--init nope: no such run folder.*shipped: general"):
        shipped.init_run("nope")


def test_train_init_general_fine_tunes_from_the_shipped_run(models, cli, tiny_dataset, tmp_path):
    result = cli(
        "train", tiny_dataset, "--out", tmp_path / "tuned", "--init", "general",
        "--epochs", "1", "--batch-size", "16", "--workers", "0", "--min-epoch-images", "0",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"initialised from {models / 'general'}" in result.out


@pytest.fixture
def automatic_init(monkeypatch):
    monkeypatch.setattr("ctcocr.training.command.AUTO_INIT", True)


def test_plain_train_starts_from_the_general_model(
    models, automatic_init, cli, tiny_dataset, tmp_path
):
    fast = ("--epochs", "1", "--batch-size", "16", "--workers", "0", "--min-epoch-images", "0")
    result = cli("train", tiny_dataset, "--out", tmp_path / "auto", *fast)
    assert result.code == 0, result.err
    assert "starting from the shipped general model" in result.out
    assert "--no-init trains from scratch" in result.out
    fresh = cli("train", tiny_dataset, "--out", tmp_path / "fresh", "--no-init", *fast)
    assert fresh.code == 0 and "new crnn" in fresh.out and "general" not in fresh.out
    shaped = cli("train", tiny_dataset, "--out", tmp_path / "cnn", "--model", "cnn", *fast)
    assert "training from scratch: the shipped general model does not fit (--model given)" in (
        shaped.out
    )
    both = cli("train", tiny_dataset, "--out", tmp_path / "x", "--init", "general", "--no-init")
    assert both.code != 0 and "give one of them" in both.err


def test_data_the_general_model_cannot_read_trains_from_scratch(
    models, automatic_init, cli, tmp_path
):
    data = tmp_path / "plates"
    (data / "images").mkdir(parents=True)
    from ctcocr.data.synth import CaptchaSynth, SynthConfig

    synth = CaptchaSynth(SynthConfig(), seed=5)
    rows = ["path,label"]
    for index in range(12):
        image, label = synth.sample(index)
        image.save(data / "images" / f"{index}.png")
        rows.append(f"images/{index}.png,皖{label}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    fast = ("--epochs", "1", "--batch-size", "8", "--workers", "0", "--min-epoch-images", "0")
    result = cli("train", data, "--out", tmp_path / "run", *fast)
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if line.startswith("training from"))
    assert "does not fit (its charset lacks" in line and "皖" in line, line


def test_init_keeps_the_preprocessing_flags_given(cli, tiny_run, tiny_dataset, tmp_path):
    """--init takes its run's input unless a flag says otherwise: never a flag ignored."""
    from ctcocr.runtime.recognizer import Recognizer

    fast = ("--epochs", "1", "--batch-size", "16", "--workers", "0", "--min-epoch-images", "0")
    kept = cli(
        "train", tiny_dataset, "--init", tiny_run, "--out", tmp_path / "red",
        "--keep-color", "red", "--frames", "merge", *fast,
    )  # fmt: skip
    assert kept.code == 0, kept.err
    spec = Recognizer(tmp_path / "red").spec.preprocess
    assert (spec.keep_color, spec.frames) == ("red", "merge")
    assert (spec.width, spec.height) == (Recognizer(tiny_run).spec.preprocess.width, 64)
    other = cli(
        "train", tiny_dataset, "--init", tiny_run, "--out", tmp_path / "small",
        "--size", "128x32", *fast,
    )  # fmt: skip
    assert other.code != 0 and "differs" in other.err and "--init" in other.err


def test_fine_tuning_keeps_the_letters_the_labels_never_showed(models, cli, tmp_path):
    from ctcocr.data.synth import SynthConfig, write_dataset

    # 4 labels of 3 characters show each of the 6 about twice: too few to show whole kinds
    few = SynthConfig(charset="ABC123", min_length=3, max_length=3)
    few = write_dataset(tmp_path / "few", 4, few, seed=3)
    fast = ("--epochs", "1", "--batch-size", "8", "--workers", "0", "--min-epoch-images", "0")
    result = cli("train", few, "--init", "general", "--out", tmp_path / "kin", *fast)
    assert result.code == 0, result.err
    assert "more of their kinds that the starting model reads" in result.out
    kept = read_spec(tmp_path / "kin").charset.chars
    starting = read_spec(models / "general").charset.chars  # the tests' stand-in: tiny_run's
    kin = {c for c in starting if c in string.digits + string.ascii_uppercase}
    assert set(kept) == set("ABC123") | kin and len(kept) > 6
    exact = cli(
        "train", few, "--init", "general", "--charset", "ABC123", "--out", tmp_path / "exact",
        *fast,
    )  # fmt: skip
    assert exact.code == 0 and "their kinds" not in exact.out
    assert read_spec(tmp_path / "exact").charset.chars == "ABC123"
