"""Inputs that once gave a traceback or a silently wrong result (issue 15), one test per row.

Each bad input now gets one line naming the file, line or value and the fix (exit status 2),
or the behaviour a user expects: a result per readable image, a warning, a refusal.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAST, SMALL_MODEL
from PIL import Image
from test_bad_input import assert_fails, read_labels

from ctcocr import Recognizer
from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import ImageError, ImageTooLargeError, ModelFileError
from ctcocr.core.run_folder import write_atomic
from ctcocr.data.images import load_image
from ctcocr.data.samples import read_samples
from ctcocr.decoding.prediction import Prediction
from ctcocr.training.outputs import plan_line

CHARSET = ("--charset", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def labelled_set(
    folder: Path, source: Path, rows: list[tuple[str, str]], encoding: str = "utf-8"
) -> Path:
    """A dataset folder: the images named in rows copied from source, labels.csv in `encoding`."""
    (folder / "images").mkdir(parents=True)
    for path, _ in rows:
        if (source / path).is_file():
            shutil.copy(source / path, folder / path)
    with (folder / "labels.csv").open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return folder


def named_folder(folder: Path, source: Path, names: list[str]) -> Path:
    """A folder of label-named images (copies of source's first images)."""
    folder.mkdir(parents=True)
    for index, name in enumerate(names):
        shutil.copy(source / "images" / f"{index:06d}.png", folder / name)
    return folder


# --- 1. label files that are not UTF-8 ------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "label", "named"), [("cp1252", "CAFÉ1", "CP1252"), ("gbk", "京A1234", "GBK")]
)
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_label_file_that_is_not_utf8(
    cli, tiny_run, tiny_dataset, tmp_path, encoding, label, named, command
):
    rows = read_labels(tiny_dataset)[:6]
    rows[1] = (rows[1][0], label)  # line 3: the header is line 1
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows, encoding)
    if command == "train":
        result = cli("train", folder, "--out", tmp_path / "run", *FAST)
    else:
        result = cli("evaluate", tiny_run, folder)
    assert_fails(
        result, str(folder / "labels.csv"), "line 3", "not UTF-8", f"iconv -f {named} -t UTF-8"
    )


def test_tab_list_that_is_not_utf8(tiny_dataset, tmp_path):
    listing = tmp_path / "list.tsv"
    image = tiny_dataset / "images" / "000000.png"
    listing.write_bytes(f"{image}\tAB12\n\n{image}\t".encode() + "京A1".encode("gbk") + b"\n")
    with pytest.raises(Exception, match=r"list\.tsv, line 3: not UTF-8.*iconv -f GBK"):
        read_samples(listing)


def test_label_file_with_a_byte_order_mark_still_reads(tiny_dataset, tmp_path):
    rows = read_labels(tiny_dataset)[:3]
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows, "utf-8-sig")
    assert (folder / "labels.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert [s.label for s in read_samples(folder)] == [label for _, label in rows]


# --- 2. a label pattern that is no regular expression ---------------------------------------


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_label_pattern_that_is_not_a_regex(cli, tiny_run, tiny_dataset, tmp_path, command):
    folder = named_folder(tmp_path / "named", tiny_dataset, ["AB12.png", "CD34.png"])
    pattern = ("--label-pattern", "(?P<label>[")
    if command == "train":
        result = cli("train", folder, *pattern, "--out", tmp_path / "run", *FAST)
    else:
        result = cli("evaluate", tiny_run, folder, *pattern)
    assert_fails(result, "(?P<label>[", "not a valid regular expression", "unterminated")
    assert not (tmp_path / "run").exists()


# --- 3. file names that are not UTF-8 -------------------------------------------------------


@pytest.fixture
def non_utf8_folder(tiny_dataset, tmp_path) -> Path:
    folder = named_folder(tmp_path / "named", tiny_dataset, ["AB12.png"])
    try:
        shutil.copy(tiny_dataset / "images" / "000001.png", folder / os.fsdecode(b"CD\xe934.png"))
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    return folder


def test_training_names_a_file_name_that_is_not_utf8(cli, non_utf8_folder, tmp_path):
    out = tmp_path / "run"
    result = cli("train", non_utf8_folder, "--out", out, *FAST)
    assert_fails(result, "CD\\xe934.png", "not valid UTF-8", "rename")
    result.err.encode("utf-8")  # no lone surrogates: printable as UTF-8
    assert not out.exists()  # refused before anything was written


def test_predict_json_is_valid_utf8_for_such_names(cli, tiny_run, non_utf8_folder):
    result = cli("predict", tiny_run, non_utf8_folder, "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out.encode("utf-8"))  # raises on lone surrogates
    assert sorted(Path(row["path"]).name for row in rows) == ["AB12.png", "CD\\xe934.png"]
    text = cli("predict", tiny_run, non_utf8_folder)
    assert text.code == 0 and "CD\\xe934.png\t" in text.out.encode("utf-8").decode()


# --- 4. where a command writes, checked first -----------------------------------------------


def _writing_commands(tiny_run: Path, tiny_dataset: Path, out: Path) -> dict[str, tuple]:
    """Each command that writes, writing under `out`; train's data does not even exist, so
    that an error about `out` shows that `out` was checked first."""
    image = tiny_dataset / "images" / "000000.png"
    return {
        "train": ("train", out.parent / "no-such-data", "--out", out / "run", *FAST),
        "synth": ("synth", out / "set", "--count", "2"),
        "pack": ("pack", tiny_dataset, out / "packed"),
        "export": ("export", tiny_run, out / "model.onnx"),
        "explain": ("explain", tiny_run, image, "--out", out / "view.png"),
        "evaluate --plot": ("evaluate", tiny_run, tiny_dataset, "--plot", out / "plot.png"),
        "augment-preview": ("augment-preview", tiny_dataset, "--out", out / "grid.png"),
        "compare": ("compare", out.parent / "no-such-data", "--out", out / "cmp", *FAST),
        "demo": ("demo", "--out", out / "demo", "--minutes", "0.01"),
    }


COMMANDS = [
    "train",
    "synth",
    "pack",
    "export",
    "explain",
    "evaluate --plot",
    "augment-preview",
    "compare",
    "demo",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_out_under_a_regular_file(cli, tiny_run, tiny_dataset, tmp_path, command):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    result = cli(*_writing_commands(tiny_run, tiny_dataset, blocker)[command])
    assert_fails(result, str(blocker), "is a file, not a folder")
    assert blocker.read_text(encoding="utf-8") == "a file, not a folder"


@pytest.mark.parametrize("command", COMMANDS)
def test_out_in_a_folder_that_cannot_be_written(
    cli, tiny_run, tiny_dataset, tmp_path, monkeypatch, command
):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o555)
    else:  # root writes anywhere: ask the check as a user's would be answered
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != locked and real(p, m))
    try:
        result = cli(*_writing_commands(tiny_run, tiny_dataset, locked)[command])
    finally:
        locked.chmod(0o755)
    assert_fails(result, str(locked), "cannot write in", "choose a folder you can write")
    assert list(locked.iterdir()) == []


def locked_run(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of tiny_run in a folder this user cannot write (as root: reported so)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    if os.geteuid() != 0:
        run.chmod(0o555)
    else:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != run and real(p, m))
    return run


def test_calibrate_checks_its_run_folder_can_be_written(
    cli, tiny_run, tiny_dataset, tmp_path, monkeypatch
):
    run = locked_run(tiny_run, tmp_path, monkeypatch)
    before = (run / "config.json").read_bytes()
    monkeypatch.setattr(Recognizer, "logits", lambda *a, **k: pytest.fail("read images first"))
    try:
        result = cli("calibrate", run, tiny_dataset)
    finally:
        run.chmod(0o755)
    assert_fails(result, str(run), "cannot write in")
    assert (run / "config.json").read_bytes() == before


def test_calibrate_refuses_an_exported_model(cli, tiny_onnx, tiny_dataset):
    result = cli("calibrate", tiny_onnx, tiny_dataset)
    assert_fails(result, str(tiny_onnx), "give the run folder")


def test_demo_does_not_empty_a_folder_of_other_files(cli, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    (folder / "run").mkdir()  # a name the demo writes does not make the folder the demo's
    result = cli("demo", "--out", folder, "--minutes", "0.01")
    assert_fails(result, str(folder), "notes.txt", "the demo did not write", "new folder")
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"


# --- 5. --out inside the training data ------------------------------------------------------


@pytest.mark.parametrize("inside", [False, True])
def test_out_in_the_data_folder(cli, tiny_dataset, tmp_path, inside):
    folder = named_folder(tmp_path / "named", tiny_dataset, ["AB12.png", "CD34.png", "EF56.png"])
    out = folder / "run" if inside else folder
    result = cli("train", folder, "--out", out, *FAST)
    assert_fails(result, str(out), "inside the data folder", "outside it")
    assert sorted(p.name for p in folder.iterdir()) == ["AB12.png", "CD34.png", "EF56.png"]


def test_out_in_the_validation_folder(cli, tiny_dataset, tmp_path):
    val = named_folder(tmp_path / "val", tiny_dataset, ["AB12.png", "CD34.png"])
    result = cli("train", tiny_dataset, "--val", val, "--out", val / "run", *FAST)
    assert_fails(result, "inside the data folder", str(val))


# --- 6. a run folder without config.json ----------------------------------------------------


@pytest.mark.parametrize("kept", [("model.safetensors", "training.png"), ("last.pt",)])
def test_incomplete_run_is_not_an_image_folder(cli, tiny_run, tiny_dataset, tmp_path, kept):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in kept:
        shutil.copy(tiny_run / name, folder)
    image = tiny_dataset / "images" / "000000.png"
    for args in [(folder, image), (folder,)]:
        result = cli("predict", *args)
        assert_fails(result, str(folder), "incomplete run", "config.json", kept[0])
    with pytest.raises(ModelFileError, match="incomplete run"):
        Recognizer(folder)


def test_resume_into_a_run_without_config_is_refused(cli, tiny_run, tiny_dataset, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(tiny_run / "last.pt", folder)
    result = cli("train", tiny_dataset, "--out", folder, "--resume", *FAST)
    assert_fails(result, str(folder), "last.pt but no config.json", "new --out")
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt"]


def test_a_run_folder_is_not_read_as_images(cli, tiny_run, tiny_dataset):
    result = cli("predict", tiny_dataset / "images" / "000000.png", tiny_run)
    assert_fails(result, str(tiny_run), "is a run folder, not a folder of images")


# --- 7. one unreadable file among many ------------------------------------------------------


@pytest.fixture
def folder_with_a_bad_image(tiny_dataset, tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        shutil.copy(tiny_dataset / "images" / f"{index:06d}.png", folder / f"{index}.png")
    broken = folder / "1b-broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n and then nothing an image needs")
    return folder, broken


def test_predict_reads_every_readable_image_in_a_folder(cli, tiny_run, folder_with_a_bad_image):
    folder, broken = folder_with_a_bad_image
    result = cli("predict", tiny_run, folder, "--json")
    assert result.code == 1
    rows = json.loads(result.out)
    assert [Path(r["path"]).name for r in rows] == ["0.png", "1.png", "1b-broken.png", "2.png"]
    assert [r["path"] for r in rows if "error" in r] == [str(broken)]
    assert "not a readable image" in rows[2]["error"]
    assert all(isinstance(r["text"], str) for r in rows if "error" not in r)
    assert "1 of 4 images could not be read" in result.err
    text = cli("predict", tiny_run, folder)
    assert text.code == 1
    assert len(text.out.splitlines()) == 3 and str(broken) not in text.out
    assert str(broken) in text.err and "1 of 4 images could not be read" in text.err


def test_predict_each_gives_an_error_in_place_of_a_bad_image(tiny_run, folder_with_a_bad_image):
    folder, broken = folder_with_a_bad_image
    reader = Recognizer(tiny_run)
    good = folder / "0.png"
    results = reader.predict_each([good, broken, good.read_bytes()])
    assert isinstance(results[0], Prediction) and isinstance(results[2], Prediction)
    assert isinstance(results[1], ImageError) and str(broken) in str(results[1])
    assert results[0].text == results[2].text == reader.predict(good).text
    with pytest.raises(ImageError):  # predict_batch still refuses the whole batch
        reader.predict_batch([good, broken])


@pytest.fixture
def labelled_with_a_bad_image(tiny_dataset, tmp_path) -> tuple[Path, Path]:
    rows = [*read_labels(tiny_dataset)[:6], ("images/x.png", "AB12")]
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows)
    (folder / "images" / "x.png").write_bytes(os.urandom(500))
    return folder, folder / "images" / "x.png"


def test_evaluate_lists_unreadable_images(cli, tiny_run, labelled_with_a_bad_image):
    folder, garbage = labelled_with_a_bad_image
    result = cli("evaluate", tiny_run, folder)
    assert_fails(result, "1 unreadable image(s)", str(garbage), "not a readable image")
    assert "--skip-bad" in result.err


def test_evaluate_skip_bad_scores_the_readable_ones(cli, tiny_run, labelled_with_a_bad_image):
    folder, garbage = labelled_with_a_bad_image
    result = cli("evaluate", tiny_run, folder, "--skip-bad", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["count"] == 6
    assert [entry["path"] for entry in data["unreadable"]] == [str(garbage)]
    assert "left out 1 unreadable image" in result.err


def test_evaluate_report_skip_bad_notes_the_images_left_out(
    cli, tiny_run, labelled_with_a_bad_image, tmp_path
):
    folder, garbage = labelled_with_a_bad_image
    report = tmp_path / "report"
    refused = cli("evaluate", tiny_run, folder, "--report", report)
    assert_fails(refused, "1 unreadable image(s)", str(garbage), "--skip-bad")
    result = cli("evaluate", tiny_run, folder, "--report", report, "--skip-bad", "--json")
    assert result.code == 0, result.err
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["count"] == 6 == json.loads(result.out)["count"]
    assert [entry["path"] for entry in metrics["unreadable"]] == [str(garbage)]
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "left out 1 unreadable image(s)" in page
    assert "left out 1 unreadable image" in result.err


def test_calibrate_lists_unreadable_images_and_skip_bad_fits_the_rest(
    cli, tiny_run, labelled_with_a_bad_image, tmp_path
):
    folder, garbage = labelled_with_a_bad_image
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (folder / "images" / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    with (folder / "labels.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["images/y.png", "CD34"])
    before = (run / "config.json").read_bytes()
    refused = cli("calibrate", run, folder)
    assert_fails(refused, "2 unreadable image(s)", str(garbage), "y.png", "--skip-bad")
    assert (run / "config.json").read_bytes() == before
    result = cli("calibrate", run, folder, "--skip-bad")
    assert result.code == 0, result.err
    assert "fitted on 6 images" in result.out
    assert "left out 2 unreadable image(s)" in result.err
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert (
        config["weights_sha256"]
        == hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    )


# --- 8. empty labels in evaluate ------------------------------------------------------------


def test_evaluate_refuses_empty_labels(cli, tiny_run, tiny_dataset, tmp_path):
    rows = [*read_labels(tiny_dataset)[:4], ("images/000020.png", "")]
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows)
    result = cli("evaluate", tiny_run, folder)
    assert_fails(result, "000020.png", "empty label", "label or remove")


# --- 9. labels the model cannot produce -----------------------------------------------------


def test_evaluate_warns_about_characters_the_model_cannot_produce(cli, tiny_dataset, tmp_path):
    shipped = Recognizer("captcha").path  # reads digits and upper case
    rows = [(path, label.lower()) for path, label in read_labels(tiny_dataset)[:8]]
    folder = labelled_set(tmp_path / "set", tiny_dataset, rows)
    letters = "".join(sorted({c for _, label in rows for c in label if c.isalpha()}))
    assert letters
    result = cli("evaluate", shipped, folder, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["unreadable_characters"] == letters
    assert "cannot produce" in result.err and repr(letters) in result.err
    assert "--ignore-case" in result.err
    folded = cli("evaluate", shipped, folder, "--json", "--ignore-case")
    assert json.loads(folded.out)["unreadable_characters"] == ""
    assert "cannot produce" not in folded.err


# --- 10. images of 144M-400M pixels ---------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds almost none: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "size",
    [(6_000, 5_000), (12_000, 12_000), (20_000, 20_000)],
    ids=["30M-ctcocr-limit", "144M-pillow-warns", "400M-pillow-refuses"],
)
def test_huge_images_are_ctcocrs_error_without_warnings(cli, tiny_run, tmp_path, size):
    data = png_header(*size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError, match="more than ctcocr opens") as caught:
            load_image(data, name="bomb.png")
    assert "scale the image down" in str(caught.value)
    assert "DOS" not in str(caught.value) and "decompression bomb" not in str(caught.value)
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    result = cli("predict", tiny_run, path)
    assert_fails(result, str(path), "more than ctcocr opens")
    assert "Warning" not in result.err


# --- 11. float arrays -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Recognizer:
    return Recognizer("captcha")


@pytest.mark.parametrize("top", [1.0, 1.0 + 1e-6], ids=["exact", "rounded-past-1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_array_in_0_1_reads_like_uint8(shipped, tiny_dataset, dtype, top):
    with Image.open(tiny_dataset / "images" / "000004.png") as image:
        pixels = np.asarray(image.convert("RGB")).copy()
    pixels[0, 0] = 255  # one white pixel: the float array's maximum is `top`
    as_uint8 = shipped.predict(pixels)
    # e.g. (x - min) / (max - min) after normalising: the brightest pixel a hair past 1.0
    as_float = shipped.predict(pixels.astype(dtype) / 255.0 * top)
    assert as_float.text == as_uint8.text
    assert as_float.confidence == pytest.approx(as_uint8.confidence, abs=1e-6)


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (np.full((32, 64), 200.0, np.float32), "from 200 to 200"),
        (np.full((32, 64), np.nan), "nan"),
        (np.full((32, 64), -0.5), "from -0.5"),
        (np.full((32, 64), 300, np.int32), "from 300 to 300"),
    ],
    ids=["float-0-255", "nan", "negative", "int-over-255"],
)
def test_arrays_outside_the_pixel_range_are_refused(shipped, array, needle):
    with pytest.raises(ImageError) as caught:
        shipped.predict(array)
    message = str(caught.value)
    assert needle in message and "uint8 values 0-255" in message and "floats in [0, 1]" in message


# --- 12. damaged weights --------------------------------------------------------------------


def test_run_folders_record_the_sha256_of_their_weights(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256((tiny_run / "model.safetensors").read_bytes()).hexdigest()
    assert config["weights_sha256"] == digest  # still right after calibration rewrote it


def test_a_kill_between_the_weights_and_their_record_leaves_a_run_that_loads(
    tiny_run, tmp_path, monkeypatch
):
    """save_weights records the coming digest, replaces the file, then records it as current:
    stopped after the file (or before it), the folder still loads; a flipped bit still fails."""
    from ctcocr.core import run_folder
    from ctcocr.network.weights import save_weights
    from ctcocr.runtime.torch_backend import TorchBackend

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    network = TorchBackend(run, Recognizer(run).spec).network
    with torch.no_grad():
        next(network.parameters()).add_(0.5)  # other weights, another digest
    recorded = run_folder.record_weights_sha256

    def killed(run_dir, digest, coming=False):
        if not coming:
            raise KeyboardInterrupt  # the kill, after the new file is in place
        recorded(run_dir, digest, coming)

    monkeypatch.setattr("ctcocr.network.weights.record_weights_sha256", killed)
    with pytest.raises(KeyboardInterrupt):
        save_weights(run, network)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["weights_sha256"] != config["weights_sha256_next"]
    assert Recognizer(run).charset  # the new file matches the coming digest


def test_bit_flipped_weights_are_refused(cli, tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    weights = bytearray((run / "model.safetensors").read_bytes())
    weights[-7] ^= 0x10  # one bit of one float: the file still parses
    (run / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ModelFileError, match=r"config\.json's sha256") as caught:
        Recognizer(run)
    assert "damaged; retrain or restore it" in str(caught.value)
    result = cli("predict", run, tiny_dataset / "images" / "000000.png")
    assert_fails(result, str(run / "model.safetensors"), "sha256", "damaged")


def test_runs_without_the_record_still_load(tiny_run, tmp_path):
    before = Path(__file__).parent / "fixtures" / "before-layout" / "run"
    assert "weights_sha256" not in json.loads((before / "config.json").read_text())
    assert Recognizer(before).charset
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    del config["weights_sha256"]
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert Recognizer(run).charset == Recognizer(tiny_run).charset


def test_a_damaged_init_run_is_refused(cli, tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "init"
    shutil.copytree(tiny_run, run)
    weights = bytearray((run / "model.safetensors").read_bytes())
    weights[-7] ^= 0x10
    (run / "model.safetensors").write_bytes(bytes(weights))
    out = tmp_path / "tuned"
    result = cli("train", tiny_dataset, "--init", run, "--out", out, *FAST)
    assert_fails(result, str(run / "model.safetensors"), "sha256", "damaged")
    assert not (out / "model.safetensors").exists()


# --- 13. --resume on other data -------------------------------------------------------------


@pytest.fixture
def first_run(cli, tiny_dataset, tmp_path) -> Path:
    out = tmp_path / "run"
    result = cli("train", tiny_dataset, "--out", out, *FAST, *SMALL_MODEL, *CHARSET)
    assert result.code == 0, result.err
    return out


def test_resume_on_fewer_images_is_refused(cli, first_run, tiny_dataset, tmp_path):
    fewer = labelled_set(tmp_path / "fewer", tiny_dataset, read_labels(tiny_dataset)[:40])
    before = (first_run / "metrics.jsonl").read_text(encoding="utf-8")
    result = cli(
        "train", fewer, "--out", first_run, "--resume", "--epochs", "2", *FAST[2:],
        *SMALL_MODEL, *CHARSET,
    )  # fmt: skip
    assert_fails(result, "trained on other data", "images then", str(fewer), "new --out")
    assert (first_run / "metrics.jsonl").read_text(encoding="utf-8") == before


def test_resume_with_a_changed_label_is_refused(cli, first_run, tiny_dataset, tmp_path):
    rows = read_labels(tiny_dataset)
    rows[5] = (rows[5][0], "ZZZZ" if rows[5][1] != "ZZZZ" else "YYYY")
    relabelled = labelled_set(tmp_path / "relabelled", tiny_dataset, rows)
    result = cli(
        "train", relabelled, "--out", first_run, "--resume", "--epochs", "2", *FAST[2:],
        *SMALL_MODEL, *CHARSET,
    )  # fmt: skip
    assert_fails(result, "trained on other data", "other images or labels")


def test_resume_on_the_same_data_continues(cli, first_run, tiny_dataset):
    result = cli(
        "train", tiny_dataset, "--out", first_run, "--resume", "--epochs", "2", *FAST[2:],
        *SMALL_MODEL, *CHARSET,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "resuming" in result.out and "epoch   2" in result.out


def test_resume_on_other_synthetic_data_is_refused(cli, tmp_path):
    out = tmp_path / "run"
    small = ("--epoch-size", "16", "--val-size", "8", *FAST, *SMALL_MODEL, "--time-steps", "16")
    first = cli("train", "--synthetic", "--length", "4-6", "--out", out, *small)
    assert first.code == 0, first.err
    result = cli("train", "--synthetic", "--length", "4-5", "--out", out, "--resume", *small)
    assert_fails(result, "trained on other data", "synth max_length: 6 then, 5 now")


# --- 14. hidden files -----------------------------------------------------------------------


def test_hidden_files_are_not_images(cli, tiny_run, tiny_dataset, tmp_path):
    folder = named_folder(tmp_path / "named", tiny_dataset, ["AB12.png", ".hidden.png"])
    (folder / "._AB12.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    assert [s.path.name for s in read_samples(folder)] == ["AB12.png"]
    result = cli("predict", tiny_run, folder, "--json")
    assert result.code == 0, result.err
    assert [Path(row["path"]).name for row in json.loads(result.out)] == ["AB12.png"]


# --- 15. the training plan and the time left ------------------------------------------------


def test_training_says_its_plan_and_the_time_left(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan: "))
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch "))
    assert plan < first_epoch
    assert "43 training images, batch 8, 5 steps per epoch; 1 epoch (5 steps)" in lines[plan]
    assert "no time limit" in lines[plan]
    assert lines[first_epoch].split("  ")[-2].endswith(" left")  # before "(best, saved)"
    assert any(line.startswith("one epoch takes ~") for line in lines[first_epoch:])


def test_the_default_plan_of_a_small_set_names_its_epochs():
    config = TrainConfig()
    line = plan_line(180, config, 3, *config.limits(3))
    assert "180 training images, batch 64, 3 steps per epoch; 1,000 epochs (3,000 steps)" in line
    assert "--epochs or --max-minutes" in line
    budget = TrainConfig(max_minutes=15)
    assert "as many epochs as fit in 15.0 min" in plan_line(180, budget, 3, *budget.limits(3))


# --- 16. file permissions -------------------------------------------------------------------


def test_run_files_get_the_usual_permissions(tiny_run, tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    expected = 0o666 & ~umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in tiny_run.iterdir() if p.is_file()}
    assert modes["model.safetensors"] == expected, modes
    assert set(modes.values()) == {expected}, modes

    def private(path: Path) -> None:  # as safetensors does: a 0600 file renamed into place
        path.write_bytes(b"x")
        path.chmod(0o600)

    write_atomic(tmp_path / "out.bin", private)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == expected


def test_resume_with_a_damaged_config_is_one_clear_line(cli, tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "last.pt").write_bytes((tiny_run / "model.safetensors").read_bytes()[:10])
    (run / "config.json").write_text("{not json", encoding="utf-8")
    result = cli("train", tiny_dataset, "--out", run, "--resume", *FAST)
    assert_fails(result, "config.json", "not valid JSON")


def test_audit_fixes_that_are_not_utf8_are_named(cli, tiny_dataset, tmp_path):
    fixes = tmp_path / "fixes.csv"
    fixes.write_bytes("path,label\nimages/000000.png,\u7696A\n".encode("gbk"))
    result = cli("audit", "--apply", fixes, tiny_dataset, "--out", tmp_path / "new.csv")
    assert_fails(result, "fixes.csv", "not UTF-8")
