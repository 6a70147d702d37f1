"""Bad input gives exit status 2 and one message that names the culprit and the fix.

No traceback may reach the user: every case asserts that stderr holds none.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FAST, SMALL_MODEL

from ctcocr import Recognizer
from ctcocr.core.errors import ImageError, ModelFileError


def assert_fails(result, *needles: str) -> None:
    """Exit status 2, no traceback, and every needle in the message on stderr."""
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    assert result.err.startswith("ctcocr "), result.err
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in {result.err!r}"


def read_labels(dataset: Path) -> list[tuple[str, str]]:
    with (dataset / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return [(row["path"], row["label"]) for row in csv.DictReader(handle)]


def labelled_set(folder: Path, source: Path, rows: list[tuple[str, str]]) -> Path:
    """A dataset folder with the given labels.csv rows; images named in rows are copied over."""
    (folder / "images").mkdir(parents=True)
    for path, _ in rows:
        if (source / path).is_file():
            shutil.copy(source / path, folder / path)
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return folder


def write_bad_images(folder: Path, source: Path) -> tuple[Path, Path]:
    """images/x.png holds random bytes; images/cut.png is the first half of a real PNG."""
    garbage = folder / "images" / "x.png"
    garbage.write_bytes(os.urandom(2000))
    whole = (source / "images" / "000000.png").read_bytes()
    truncated = folder / "images" / "cut.png"
    truncated.write_bytes(whole[: len(whole) // 2])
    return garbage, truncated


# --- where the data should be ---------------------------------------------------------------


def test_data_path_that_does_not_exist(cli, tmp_path):
    missing = tmp_path / "no-such-data"
    result = cli("train", missing, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(missing), "no such file or folder", "check the data path")
    assert not (tmp_path / "run" / "config.json").exists()


def test_empty_folder(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("train", empty, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(empty), "no images", "labels.csv", "labelled images")


def test_folder_of_non_images(cli, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("AB12", encoding="utf-8")
    (folder / "data.json").write_text("{}", encoding="utf-8")
    result = cli("train", folder, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(folder), "no images", ".png")


def test_data_file_that_is_not_a_csv(cli, tiny_dataset, tmp_path):
    image = tiny_dataset / "images" / "000000.png"
    result = cli("train", image, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(image), "not a dataset", ".csv")


def test_csv_without_header(cli, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text("images/a.png,AB12\n", encoding="utf-8")
    result = cli("train", manifest, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(manifest), "header", "path,label")


def test_neither_data_nor_synthetic(cli, tmp_path):
    result = cli("train", "--out", tmp_path / "run", *FAST)
    assert_fails(result, "--synthetic")


def test_data_and_synthetic_together(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--synthetic", "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(tiny_dataset), "--synthetic")


def test_out_is_a_file(cli, tiny_dataset, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("", encoding="utf-8")
    result = cli("train", tiny_dataset, "--out", target, *FAST)
    assert_fails(result, str(target), "folder")


def test_label_pattern_without_label_group(cli, tiny_dataset, tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    shutil.copy(tiny_dataset / "images" / "000000.png", folder / "AB12.png")
    result = cli("train", folder, "--label-pattern", "^(.+)$", "--out", tmp_path / "run", *FAST)
    assert_fails(result, "^(.+)$", "(?P<label>")


def test_file_name_without_label(cli, tiny_dataset, tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    shutil.copy(tiny_dataset / "images" / "000000.png", folder / "AB12.png")
    shutil.copy(tiny_dataset / "images" / "000001.png", folder / "_7.png")
    result = cli("train", folder, "--out", tmp_path / "run", *FAST)
    assert_fails(result, "_7.png", "--label-pattern")


# --- unreadable images ----------------------------------------------------------------------


@pytest.fixture
def bad_image_set(tiny_dataset, tmp_path) -> tuple[Path, Path, Path]:
    """24 good images plus x.png (random bytes) and cut.png (a truncated PNG), in labels.csv."""
    rows = read_labels(tiny_dataset)[:24]
    rows[3:3] = [("images/x.png", "AB12")]
    rows[17:17] = [("images/cut.png", "CD34")]
    folder = labelled_set(tmp_path / "bad", tiny_dataset, rows)
    garbage, truncated = write_bad_images(folder, tiny_dataset)
    return folder, garbage, truncated


def test_bad_images_are_all_listed(cli, bad_image_set, tiny_dataset, tmp_path):
    folder, garbage, truncated = bad_image_set
    result = cli("train", folder, "--val", tiny_dataset, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(garbage), str(truncated), "2 unreadable", "--skip-bad")
    assert not (tmp_path / "run" / "config.json").exists()


def test_bad_images_are_all_listed_without_val(cli, bad_image_set, tmp_path):
    folder, garbage, truncated = bad_image_set
    result = cli("train", folder, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(garbage), str(truncated), "2 unreadable", "--skip-bad")


def test_bad_images_in_train_and_val_are_listed_together(cli, tiny_dataset, tmp_path):
    rows = read_labels(tiny_dataset)
    train = labelled_set(tmp_path / "train", tiny_dataset, [*rows[:16], ("images/x.png", "AB12")])
    val = labelled_set(tmp_path / "val", tiny_dataset, [*rows[16:24], ("images/cut.png", "CD34")])
    write_bad_images(train, tiny_dataset)
    write_bad_images(val, tiny_dataset)
    result = cli("train", train, "--val", val, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(train / "images" / "x.png"), str(val / "images" / "cut.png"))


def test_skip_bad_trains_and_reports_the_count(cli, bad_image_set, tmp_path):
    folder, _, _ = bad_image_set
    out = tmp_path / "run"
    # --charset: with 24 images the held-out split may hold a character no training label has
    charset = ("--charset", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    result = cli("train", folder, "--skip-bad", *charset, "--out", out, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "skipped 2 unreadable" in result.out
    assert (out / "model.safetensors").is_file()
    data = json.loads((out / "config.json").read_text(encoding="utf-8"))["training"]["data"]
    assert data["train"] + data["val"] == 24


# --- labels ---------------------------------------------------------------------------------


def test_label_outside_charset(cli, tiny_dataset, tmp_path):
    labels = [label for _, label in read_labels(tiny_dataset)]
    result = cli("train", tiny_dataset, "--charset", "0123456789", "--out", tmp_path / "r", *FAST)
    letters = "".join(sorted({c for label in labels for c in label if not c.isdigit()}))
    assert_fails(result, repr(letters), "outside the charset", "--charset")
    assert any(repr(label) in result.err for label in labels if not label.isdigit())


def test_label_too_long_for_time_steps(cli, tiny_dataset, tmp_path):
    assert max(len(label) for _, label in read_labels(tiny_dataset)) == 5
    result = cli("train", tiny_dataset, "--time-steps", 8, "--out", tmp_path / "run", *FAST)
    assert_fails(result, "2 * 5 + 1", "11", "--time-steps", "8")


def test_empty_label(cli, tiny_dataset, tmp_path):
    rows = [*read_labels(tiny_dataset)[:16], ("images/000020.png", "")]
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows)
    assert (folder / "labels.csv").read_text(encoding="utf-8").splitlines()[-1] == (
        "images/000020.png,"
    )
    result = cli("train", folder, "--out", tmp_path / "run", *FAST)
    assert_fails(result, "000020.png", "empty label", "label or remove")


def test_manifest_row_with_missing_image(cli, tiny_dataset, tmp_path):
    rows = read_labels(tiny_dataset)[:4]
    rows.insert(1, ("images/gone.png", "AB12"))  # line 3: the header is line 1
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows)
    manifest = folder / "labels.csv"
    result = cli("train", manifest, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(manifest), "line 3", "gone.png", "fix or remove the row")


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (("--epochs", "0"), "epochs=0"),
        (("--val-fraction", "1.5"), "val_fraction=1.5"),
        (("--time-steps", "20"), "--time-steps"),
    ],
)
def test_bad_training_values(cli, tiny_dataset, tmp_path, flags, needle):
    args = ("--batch-size", "8", "--workers", "0", *SMALL_MODEL)
    result = cli("train", tiny_dataset, "--out", tmp_path / "run", *args, *flags)
    assert_fails(result, needle)
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("device", ["nonsense", "cuda:99"])
def test_unusable_device(cli, tiny_dataset, tmp_path, device):
    result = cli("train", tiny_dataset, "--device", device, "--out", tmp_path / "run", *FAST)
    assert_fails(result, device)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (("--length", "6-4"), "6-4"),
        (("--size", "8x8"), "too small"),
        (("--count", "0"), "count=0"),
    ],
)
def test_bad_synth_values(cli, tmp_path, flags, needle):
    result = cli("synth", tmp_path / "set", *flags)
    assert_fails(result, needle)


def test_synth_into_an_existing_dataset(cli, tiny_dataset):
    result = cli("synth", tiny_dataset, "--count", "2")
    assert_fails(result, str(tiny_dataset), "new folder")


# --- folders that are not runs --------------------------------------------------------------


def _empty_folder(base: Path, _run: Path) -> Path:
    folder = base / "empty"
    folder.mkdir()
    return folder


def _config_without_weights(base: Path, run: Path) -> Path:
    folder = base / "no-weights"
    folder.mkdir()
    shutil.copy(run / "config.json", folder)
    return folder


def _future_format(base: Path, run: Path) -> Path:
    folder = base / "future"
    folder.mkdir()
    shutil.copy(run / "model.safetensors", folder)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = 999
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _damaged_weights(base: Path, run: Path) -> Path:
    folder = base / "damaged"
    folder.mkdir()
    shutil.copy(run / "config.json", folder)
    (folder / "model.safetensors").write_bytes(os.urandom(100))
    return folder


def _missing(base: Path, _run: Path) -> Path:
    return base / "no-such-run"


NOT_RUNS = {
    "empty": (_empty_folder, ("not a ctcocr run", "model.safetensors", "--out folder")),
    "no-weights": (_config_without_weights, ("not a ctcocr run", "model.safetensors")),
    "future": (_future_format, ("format 999", "reads format 1", "retrain")),
    "damaged": (_damaged_weights, ("model.safetensors", "retrain")),
    "missing": (_missing, ("no such", "--out folder")),
}


@pytest.mark.parametrize("kind", list(NOT_RUNS))
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_commands_refuse_folders_that_are_not_runs(
    cli, tiny_run, tiny_dataset, tmp_path, kind, command
):
    make, needles = NOT_RUNS[kind]
    folder = make(tmp_path, tiny_run)
    data = tiny_dataset if command == "evaluate" else tiny_dataset / "images" / "000000.png"
    result = cli(command, folder, data)
    assert_fails(result, str(folder), *needles)


@pytest.mark.parametrize("kind", list(NOT_RUNS))
def test_recognizer_refuses_folders_that_are_not_runs(tiny_run, tmp_path, kind):
    make, needles = NOT_RUNS[kind]
    folder = make(tmp_path, tiny_run)
    with pytest.raises(ModelFileError) as caught:
        Recognizer(folder)
    for needle in needles:
        assert needle in str(caught.value)


def test_recognizer_refuses_a_file(tiny_run):
    with pytest.raises(ModelFileError, match="run folder"):
        Recognizer(tiny_run / "model.safetensors")


def test_recognizer_refuses_config_that_is_not_an_object(tiny_run, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(tiny_run / "model.safetensors", folder)
    (folder / "config.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"config\.json"):
        Recognizer(folder)


def test_recognizer_refuses_config_that_is_not_json(tiny_run, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(tiny_run / "model.safetensors", folder)
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        Recognizer(folder)


# --- images given to a model ----------------------------------------------------------------


def test_predict_bytes_that_are_not_an_image(tiny_run):
    with pytest.raises(ImageError, match="not a readable image"):
        Recognizer(tiny_run).predict(b"not an image")


def test_predict_unsupported_input_type(tiny_run):
    with pytest.raises(ImageError, match="path, bytes, a PIL image or a numpy array"):
        Recognizer(tiny_run).predict(12345)  # type: ignore[arg-type]


def test_predict_array_that_is_not_an_image(tiny_run):
    import numpy as np

    with pytest.raises(ImageError, match=r"\(2, 3, 4, 5\)"):
        Recognizer(tiny_run).predict(np.zeros((2, 3, 4, 5)))


def test_predict_command_with_a_missing_file(cli, tiny_run, tmp_path):
    missing = tmp_path / "nothing.png"
    result = cli("predict", tiny_run, missing)
    assert_fails(result, str(missing), "no such file")


def test_predict_command_with_a_non_image(cli, tiny_run, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")
    result = cli("predict", tiny_run, fake)
    assert_fails(result, str(fake), "not a readable image")


def test_predict_command_with_a_folder_without_images(cli, tiny_run, tmp_path):
    result = cli("predict", tiny_run, tmp_path)
    assert_fails(result, str(tmp_path), "no images")


def test_evaluate_with_an_unreadable_image(cli, tiny_run, tiny_dataset, tmp_path):
    folder = labelled_set(tmp_path / "set", tiny_dataset, read_labels(tiny_dataset)[:3])
    garbage, _ = write_bad_images(folder, tiny_dataset)
    with (folder / "labels.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["images/x.png", "AB12"])
    result = cli("evaluate", tiny_run, folder)
    assert_fails(result, str(garbage), "not a readable image")
