"""Shipped models by name: `Recognizer()`, `Recognizer("captcha")`, `--init general`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ctcocr.core.errors import ModelFileError
from ctcocr.runtime import shipped


@pytest.fixture
def models(tmp_path, monkeypatch, tiny_run, tiny_onnx):
    """A models folder holding `general` (ONNX and run folder) and no `captcha`."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "general.onnx")
    shutil.copytree(tiny_run, folder / "general")
    monkeypatch.setattr(shipped, "MODELS", folder)
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
