"""The documented contract of the `ctcocr` command and the Recognizer API, end to end.

Every training here is one epoch of a tiny model on a few dozen images: the tests check what
is written and printed, not how well the model reads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, SMALL_MODEL
from PIL import Image

from ctcocr import Prediction, Recognizer
from ctcocr.core.version import __version__

RUN_FILES = ("config.json", "model.safetensors", "metrics.jsonl", "training.png")


def read_labels(dataset: Path) -> list[dict[str, str]]:
    with (dataset / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_manifest(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return path


def assert_is_run(run: Path) -> dict:
    for name in RUN_FILES:
        assert (run / name).is_file(), f"{name} missing from {run}"
    return json.loads((run / "config.json").read_text(encoding="utf-8"))


# --- the entry point ------------------------------------------------------------------------


def test_python_m_ctcocr_version():
    result = subprocess.run(
        [sys.executable, "-m", "ctcocr", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ctcocr {__version__}"


# --- synth ----------------------------------------------------------------------------------


def _synth(cli, out: Path, seed: int):
    return cli(
        "synth", out, "--count", 6, "--seed", seed, "--length", "4-6",
        "--charset", "ABC123", "--size", "96x48",
    )  # fmt: skip


def test_synth_writes_images_and_labels(cli, tmp_path):
    out = tmp_path / "set"
    result = _synth(cli, out, seed=3)
    assert result.code == 0, result.err
    header = (out / "labels.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "path,label"
    rows = read_labels(out)
    assert len(rows) == 6
    assert len(list((out / "images").glob("*.png"))) == 6
    for row in rows:
        assert row["path"].startswith("images/") and row["path"].endswith(".png")
        assert 4 <= len(row["label"]) <= 6
        assert set(row["label"]) <= set("ABC123")
        with Image.open(out / row["path"]) as image:
            assert image.size == (96, 48)


def test_synth_same_seed_same_files_other_seed_other_labels(cli, tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert _synth(cli, tmp_path / name, seed).code == 0
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (a / "labels.csv").read_bytes() == (b / "labels.csv").read_bytes()
    for row in read_labels(a):
        assert (a / row["path"]).read_bytes() == (b / row["path"]).read_bytes(), row["path"]
    assert [r["label"] for r in read_labels(a)] != [r["label"] for r in read_labels(c)]


# --- train: the data forms ------------------------------------------------------------------


def test_tiny_run_is_a_run(tiny_run):
    config = assert_is_run(tiny_run)
    assert config["model"]["architecture"] == "crnn"
    assert len((tiny_run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_train_from_dataset_folder_holds_out_validation(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "held out" in result.out
    assert_is_run(tmp_path / "run")


def test_train_from_manifest_elsewhere(cli, tiny_dataset, tmp_path):
    # A CSV in another folder, its paths relative to the CSV, climbing out with ../
    lists = tmp_path / "lists"
    rows = [
        (os.path.relpath(tiny_dataset / r["path"], lists), r["label"])
        for r in read_labels(tiny_dataset)
    ]
    assert all(path.startswith("../") for path, _ in rows)
    manifest = write_manifest(lists / "train.csv", rows)
    result = cli("train", manifest, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "held out" in result.out
    config = assert_is_run(tmp_path / "run")
    assert config["charset"] == "".join(sorted({c for _, label in rows for c in label}))


def test_train_from_folder_named_by_label(cli, tiny_dataset, tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    rows = read_labels(tiny_dataset)[:16]
    for index, row in enumerate(rows):
        # every label twice: once as LABEL.png, once as LABEL_N.png
        shutil.copy(tiny_dataset / row["path"], folder / f"{row['label']}.png")
        shutil.copy(tiny_dataset / row["path"], folder / f"{row['label']}_{index}.png")
    result = cli("train", folder, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    config = assert_is_run(tmp_path / "run")
    assert config["charset"] == "".join(sorted({c for row in rows for c in row["label"]}))
    assert config["training"]["data"]["train"] + config["training"]["data"]["val"] == 32


def test_train_synthetic(cli, tmp_path):
    result = cli(
        "train", "--synthetic", "--out", tmp_path / "run", "--val-size", 16,
        "--epoch-size", 32, "--length", "3-4", "--charset", "0123456789", *FAST, *SMALL_MODEL,
    )  # fmt: skip
    assert result.code == 0, result.err
    config = assert_is_run(tmp_path / "run")
    assert config["charset"] == "0123456789"
    assert config["training"]["data"]["source"] == "synthetic"


def test_train_with_val_does_not_hold_out(cli, tiny_dataset, tmp_path):
    rows = read_labels(tiny_dataset)
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset / "images", root / "images")
    train = write_manifest(root / "train.csv", [(r["path"], r["label"]) for r in rows[:40]])
    val = write_manifest(root / "val.csv", [(r["path"], r["label"]) for r in rows[40:]])
    result = cli("train", train, "--val", val, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "held out" not in result.out
    config = assert_is_run(tmp_path / "run")
    assert config["training"]["data"]["train"] == 40
    assert config["training"]["data"]["val"] == 8


def test_inferred_charset_covers_the_held_out_labels(cli, tiny_dataset, tmp_path):
    # Every label has a character of its own: whichever images the split holds out, their
    # characters occur in no training label.
    rows = read_labels(tiny_dataset)[:20]
    labeled = [(str(tiny_dataset / r["path"]), f"0{chr(ord('A') + i)}") for i, r in enumerate(rows)]
    manifest = write_manifest(tmp_path / "unique.csv", labeled)
    result = cli("train", manifest, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    config = assert_is_run(tmp_path / "run")
    assert config["charset"] == "0" + "".join(chr(ord("A") + i) for i in range(20))


@pytest.mark.parametrize("architecture", ["cnn", "crnn"])
def test_model_choice_and_inferred_charset_are_recorded(cli, tiny_dataset, tmp_path, architecture):
    out = tmp_path / "run"
    result = cli("train", tiny_dataset, "--model", architecture, "--out", out, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    config = assert_is_run(out)
    assert config["model"]["architecture"] == architecture
    labels = [row["label"] for row in read_labels(tiny_dataset)]
    assert config["charset"] == "".join(sorted(set("".join(labels))))
    assert Recognizer(out).spec.model.architecture == architecture


# --- evaluate and predict -------------------------------------------------------------------


def test_evaluate_json(cli, tiny_run, tiny_dataset):
    result = cli("evaluate", tiny_run, tiny_dataset, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)  # exactly one JSON document on stdout
    assert isinstance(report, dict)
    assert {"count", "sequence_accuracy", "character_accuracy", "per_length"} <= set(report)
    labels = [row["label"] for row in read_labels(tiny_dataset)]
    assert report["count"] == len(labels) == 48
    assert 0.0 <= report["sequence_accuracy"] <= 1.0
    assert 0.0 <= report["character_accuracy"] <= 1.0
    lengths = {str(len(label)) for label in labels}
    assert set(report["per_length"]) == lengths
    for key, row in report["per_length"].items():
        assert row["count"] == sum(len(label) == int(key) for label in labels)
        assert 0.0 <= row["sequence_accuracy"] <= 1.0


def test_evaluate_plain_text(cli, tiny_run, tiny_dataset):
    result = cli("evaluate", tiny_run, tiny_dataset)
    assert result.code == 0, result.err
    assert "48 images" in result.out
    assert "sequence accuracy" in result.out


def test_predict_json_keeps_order(cli, tiny_run, tiny_dataset):
    files = [tiny_dataset / "images" / "000003.png", tiny_dataset / "images" / "000001.png"]
    result = cli("predict", tiny_run, *files, "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [row["path"] for row in rows] == [str(f) for f in files]
    for row in rows:
        assert isinstance(row["text"], str)
        assert 0.0 <= row["confidence"] <= 1.0


def test_predict_expands_folders(cli, tiny_run, tiny_dataset, tmp_path):
    folder = tmp_path / "some"
    folder.mkdir()
    for name in ("b.png", "a.png", "c.png"):
        shutil.copy(tiny_dataset / "images" / "000000.png", folder / name)
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    single = tiny_dataset / "images" / "000005.png"
    result = cli("predict", tiny_run, single, folder, "--json")
    assert result.code == 0, result.err
    paths = [row["path"] for row in json.loads(result.out)]
    assert paths == [str(single), *(str(folder / n) for n in ("a.png", "b.png", "c.png"))]


def test_predict_plain_text_one_line_per_image(cli, tiny_run, tiny_dataset):
    result = cli("predict", tiny_run, tiny_dataset / "images")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert len(lines) == 48
    assert all(len(line.split("\t")) == 3 for line in lines)


# --- resume ---------------------------------------------------------------------------------


def test_resume_continues_a_run(cli, tiny_dataset, tmp_path):
    out = tmp_path / "run"
    first = cli("train", tiny_dataset, "--out", out, *FAST, *SMALL_MODEL)
    assert first.code == 0, first.err
    args = ("--epochs", "2", *FAST[2:], *SMALL_MODEL)  # FAST with two epochs
    second = cli("train", tiny_dataset, "--out", out, *args, "--resume")
    assert second.code == 0, second.err
    assert "resuming" in second.out
    metrics = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["epoch"] for line in metrics] == [1, 2]


def test_resume_with_other_flags_is_refused(cli, tiny_dataset, tmp_path):
    out = tmp_path / "run"
    assert cli("train", tiny_dataset, "--out", out, *FAST, *SMALL_MODEL).code == 0
    other = ("--epochs", "2", *FAST[2:], "--model", "cnn")
    result = cli("train", tiny_dataset, "--out", out, *other, *SMALL_MODEL, "--resume")
    assert result.code == 2
    assert "model" in result.err and "new --out" in result.err
    assert len((out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_existing_run_needs_resume(cli, tiny_run, tiny_dataset):
    before = (tiny_run / "metrics.jsonl").read_bytes()
    result = cli("train", tiny_dataset, "--out", tiny_run, *FAST)
    assert result.code == 2
    assert "--resume" in result.err
    assert str(tiny_run) in result.err
    assert (tiny_run / "metrics.jsonl").read_bytes() == before


# --- the Python API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(tiny_run) -> Recognizer:
    return Recognizer(tiny_run)


def _image_inputs(path: Path) -> dict[str, object]:
    with Image.open(path) as image:
        pil = image.copy()
    return {
        "path": path,
        "str": str(path),
        "bytes": path.read_bytes(),
        "pil": pil,
        "numpy": np.asarray(pil),
    }


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "pil", "numpy"])
def test_recognizer_predict_accepts_each_input_kind(reader, tiny_dataset, kind):
    image = _image_inputs(tiny_dataset / "images" / "000000.png")[kind]
    prediction = reader.predict(image)
    assert isinstance(prediction, Prediction)
    assert isinstance(prediction.text, str)
    assert isinstance(prediction.confidence, float)
    assert 0.0 <= prediction.confidence <= 1.0
    assert set(prediction.text) <= set(reader.charset)


def test_recognizer_same_image_same_text_for_every_input_kind(reader, tiny_dataset):
    inputs = _image_inputs(tiny_dataset / "images" / "000002.png")
    texts = {kind: reader.predict(value).text for kind, value in inputs.items()}
    assert len(set(texts.values())) == 1, texts
    confidences = [reader.predict(value).confidence for value in inputs.values()]
    assert max(confidences) - min(confidences) < 1e-5


def test_recognizer_predict_batch_one_per_input_in_order(reader, tiny_dataset):
    paths = sorted((tiny_dataset / "images").glob("*.png"))[:5]
    batch = reader.predict_batch([*paths, paths[0].read_bytes()])
    assert len(batch) == 6
    singles = [reader.predict(path) for path in paths]
    assert [p.text for p in batch[:5]] == [p.text for p in singles]
    assert batch[5].text == singles[0].text
    assert reader.predict_batch([]) == []


def test_recognizer_small_batch_size_gives_same_answers(reader, tiny_dataset):
    paths = sorted((tiny_dataset / "images").glob("*.png"))[:5]
    whole = reader.predict_batch(paths)
    chunked = reader.predict_batch(paths, batch_size=2)
    assert [p.text for p in whole] == [p.text for p in chunked]


def test_prediction_to_json(reader, tiny_dataset):
    buffer = io.BytesIO()
    Image.open(tiny_dataset / "images" / "000000.png").save(buffer, format="PNG")
    data = reader.predict(buffer.getvalue()).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert len(data["char_confidences"]) == len(data["text"])


def test_time_steps_picked_from_the_longest_label(cli, tmp_path):
    from ctcocr.data.synth import SynthConfig, write_dataset

    data = write_dataset(tmp_path / "long", 12, SynthConfig(256, 64, 9, 10), seed=2)
    out = tmp_path / "run"
    result = cli("train", data, "--size", "256x64", "--out", out, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["time_steps"] >= 2 * 10 + 1


def test_resume_without_a_run_starts_one_and_says_so(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--out", tmp_path / "new", "--resume", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "nothing to resume" in result.out
    assert (tmp_path / "new" / "model.safetensors").exists()
