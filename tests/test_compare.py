"""`ctcocr compare` trains each model alike and scores them alike; `--tensorboard` logs scalars."""

from __future__ import annotations

import csv
import json
import sys

from conftest import FAST, SMALL_MODEL
from PIL import Image

ROW_KEYS = {
    "model", "sequence_accuracy", "character_accuracy", "parameters", "file_bytes",
    "train_images_per_s", "latency_ms", "minutes", "epochs",
}  # fmt: skip


def test_compare_on_files_scores_on_the_held_out_share(cli, tiny_dataset, tmp_path):
    out = tmp_path / "cmp"
    result = cli("compare", tiny_dataset, "--models", "cnn,crnn", "--out", out, "--seed", 3,
                 *FAST, *SMALL_MODEL)  # fmt: skip
    assert result.code == 0, result.err
    table = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert [row["model"] for row in table["models"]] == ["cnn", "crnn"]
    assert table["seed"] == 3 and table["epochs"] == 1
    for row in table["models"]:
        assert set(row) >= ROW_KEYS
        assert row["epochs"] == 1 and row["parameters"] > 0 and row["latency_ms"] > 0
        config = json.loads((out / row["model"] / "config.json").read_text(encoding="utf-8"))
        assert config["model"]["architecture"] == row["model"]
        assert config["training"]["config"]["seed"] == 3
        assert (out / row["model"] / "report" / "report.html").is_file()
    cnn, crnn = table["models"]
    assert crnn["parameters"] > cnn["parameters"]  # the LSTM is extra
    # Scored on the same held-out 10% that training kept back (seed 3), none of the training set.
    with (out / "heldout.csv").open(newline="", encoding="utf-8") as handle:
        held_out = list(csv.DictReader(handle))
    assert table["test_count"] == len(held_out) == 5
    assert table["test"] == str(out / "heldout.csv")
    lines = result.out.strip().splitlines()
    assert lines[-5].startswith("| model |") and lines[-2].startswith("| crnn |")
    assert (out / "compare.md").read_text(encoding="utf-8").startswith("| model |")
    with Image.open(out / "curves.png") as image:
        assert image.format == "PNG" and image.width > image.height


def test_compare_scores_on_test_when_given(cli, tiny_dataset, tmp_path):
    out = tmp_path / "cmp"
    labels = tiny_dataset / "labels.csv"
    result = cli("compare", labels, "--val", labels, "--test", labels, "--models", "cnn",
                 "--out", out, *FAST, *SMALL_MODEL)  # fmt: skip
    assert result.code == 0, result.err
    table = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert table["test"] == str(labels) and table["test_count"] == 48
    assert [row["model"] for row in table["models"]] == ["cnn"]
    assert not (out / "crnn").exists()


def test_compare_rejects_unknown_models(cli, tiny_dataset, tmp_path):
    result = cli("compare", tiny_dataset, "--models", "cnn,vit", "--out", tmp_path / "c", *FAST)
    assert result.code == 2 and "Traceback" not in result.err
    assert "--models 'cnn,vit'" in result.err
    assert not (tmp_path / "c").exists()


def test_tensorboard_logs_every_epoch(cli, tiny_dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    result = cli("train", tiny_dataset, "--out", run, "--tensorboard", "--epochs", "2",
                 *FAST[2:], *SMALL_MODEL)  # fmt: skip
    assert result.code == 0, result.err
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "loss/train",
        "loss/validation",
        "validation/sequence_accuracy",
        "learning_rate",
    } <= tags
    assert len(events.Scalars("loss/train")) == 2


def test_tensorboard_missing_is_one_clear_line(cli, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    run = tmp_path / "run"
    result = cli("train", tiny_dataset, "--out", run, "--tensorboard", *FAST, *SMALL_MODEL)
    assert result.code == 2 and "Traceback" not in result.err
    assert "pip install tensorboard" in result.err
    assert not (run / "config.json").exists()  # nothing to --resume: the same command works later
