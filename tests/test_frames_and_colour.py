"""Animated GIFs (`--frames first|merge`) and the colour filter (`--keep-color`): what each reads,
that both travel with the model (config.json, ONNX metadata) and apply alike in training, PyTorch
and ONNX inference, their synthetic styles, and clear errors for bad values and broken GIFs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, SMALL_MODEL
from PIL import Image, ImageDraw

from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import ConfigError, ImageError, ImageTooLargeError
from ctcocr.core.run_folder import RunSpec, read_spec
from ctcocr.data import task_styles
from ctcocr.data.images import load_image, preprocess, preprocess_batch
from ctcocr.data.synth import CaptchaSynth, SynthConfig, write_dataset
from ctcocr.data.task_styles import DECOY_DISTANCE

BEFORE = Path(__file__).parent / "fixtures" / "before-layout"
PAPER = (245, 245, 240)


def _gif(frames: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def _two_frames(paper=PAPER, ink=(20, 20, 20)) -> bytes:
    """A 96x32 GIF: an 'L' on the left in frame 1, a 'T' on the right in frame 2."""
    left, right = Image.new("RGB", (96, 32), paper), Image.new("RGB", (96, 32), paper)
    ImageDraw.Draw(left).line([(10, 4), (10, 27), (30, 27)], fill=ink, width=4)
    ImageDraw.Draw(right).line([(60, 5), (86, 5)], fill=ink, width=4)
    ImageDraw.Draw(right).line([(73, 5), (73, 27)], fill=ink, width=4)
    return _gif([left, right])


def _ink(model_input: np.ndarray) -> tuple[int, int]:
    """Dark pixels in the left and the right half of a (1, H, W) input in [-1, 1]."""
    dark = model_input[0] < -0.5
    half = dark.shape[1] // 2
    return int(dark[:, :half].sum()), int(dark[:, half:].sum())


def test_merge_shows_the_characters_of_every_frame_and_first_only_the_first():
    data = _two_frames()
    first = _ink(preprocess(data, PreprocessConfig(96, 32, 1)))
    merged = _ink(preprocess(data, PreprocessConfig(96, 32, 1, frames="merge")))
    assert first[0] > 50 and first[1] == 0  # the default: as every older model read it
    assert merged[0] > 50 and merged[1] > 50
    assert abs(merged[0] - first[0]) <= 2  # frame 1's stroke is kept as it was


def test_merge_reads_light_ink_on_dark_paper_too():
    data = _two_frames(paper=(15, 15, 40), ink=(250, 250, 250))
    light = preprocess(data, PreprocessConfig(96, 32, 1, frames="merge"))[0] > 0.5
    assert light[:, :48].sum() > 50 and light[:, 48:].sum() > 50


def test_merging_leaves_the_image_on_its_first_frame():
    image = load_image(_two_frames())
    before = np.asarray(image.convert("L")).copy()
    preprocess(image, PreprocessConfig(96, 32, 1, frames="merge"))
    assert image.tell() == 0 and np.array_equal(np.asarray(image.convert("L")), before)


def test_a_gif_without_frames_or_with_a_broken_frame_is_a_clear_image_error():
    empty = b"GIF89a" + bytes([96, 0, 32, 0, 0, 0, 0]) + b";"
    with pytest.raises(ImageError, match=r"empty\.gif: a GIF file without a frame"):
        load_image(empty, name="empty.gif")
    data = _two_frames()
    with pytest.raises(ImageError, match=r"cut\.gif: frame 2 of the animation cannot be read"):
        load_image(data[:-6], name="cut.gif")


def test_an_animation_past_the_pixel_limit_is_refused_when_opened(monkeypatch):
    """Refused at open, with the file's name, whatever --frames says: not later, in a batch
    or a loader worker, where one file would stop the others."""
    from ctcocr.data import frames

    monkeypatch.setattr(frames, "MAX_FRAME_PIXELS", 96 * 32 + 10)  # room for one frame
    data = _two_frames()
    with pytest.raises(ImageTooLargeError, match="2 or more frames of 96x32"):
        load_image(data, "big.gif")
    with pytest.raises(ImageTooLargeError, match=r"big\.gif"):
        load_image(data, "big.gif")


def _strokes() -> Image.Image:
    """White paper, a red stroke and a pale red one (half red, half paper, as an anti-aliased
    edge is) on the left, a blue one on the right: "type the red characters" at its simplest."""
    image = Image.new("RGB", (96, 32), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.line([(12, 4), (12, 28)], fill=(220, 20, 30), width=4)
    draw.line([(30, 4), (30, 28)], fill=(250, 130, 130), width=2)  # half red, half paper
    draw.line([(70, 4), (70, 28)], fill=(20, 40, 200), width=4)
    return image


def test_the_colour_filter_keeps_red_strokes_and_drops_the_blue_one():
    unfiltered = preprocess(_strokes(), PreprocessConfig(96, 32, 1))[0]
    kept = preprocess(_strokes(), PreprocessConfig(96, 32, 1, keep_color="red"))[0]
    assert unfiltered[:, 70].min() < -0.5  # the blue stroke is there before the filter
    assert kept[4:28, 12].max() < -0.9  # the red stroke is full ink (-1 is black)
    assert -0.5 < kept[10, 30] < 0.5  # the blended edge is half ink, not dropped
    assert kept[:, 60:].min() > 0.99 and kept[:, 40:60].min() > 0.99  # blue and paper: white
    hex_kept = preprocess(_strokes(), PreprocessConfig(96, 32, 1, keep_color="#FF0000"))[0]
    assert np.array_equal(hex_kept, kept)
    blue = preprocess(_strokes(), PreprocessConfig(96, 32, 3, keep_color="blue"))
    assert blue.shape == (3, 32, 96) and blue[:, 4:28, 70].max() < -0.5
    assert blue[:, :, :40].min() > 0.99


def test_the_tolerance_decides_how_far_a_colour_may_stray():
    orange = Image.new("RGB", (32, 16), (255, 255, 255))
    ImageDraw.Draw(orange).rectangle((8, 4, 24, 12), fill=(255, 165, 0))  # CSS orange
    strict = preprocess(orange, PreprocessConfig(32, 16, 1, keep_color="red"))[0]
    loose = preprocess(orange, PreprocessConfig(32, 16, 1, keep_color="red", color_tolerance=300))
    assert strict.min() > 0.99 and loose[0, 8, 16] < -0.5


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"keep_color": "reddish"}, ["'reddish'", "CSS colour name", "#rrggbb"]),
        ({"keep_color": "#12345g"}, ["'#12345g'", "#rrggbb"]),
        ({"keep_color": "#f00"}, ["'#f00'", "#rrggbb"]),
        ({"keep_color": "red", "color_tolerance": 0}, ["color_tolerance=0", "441.7"]),
        ({"color_tolerance": 500.0}, ["color_tolerance=500.0", "at most"]),
        ({"color_tolerance": float("nan")}, ["color_tolerance=nan"]),
        ({"frames": "all"}, ["frames='all'", "'first' or 'merge'"]),
    ],
)
def test_bad_preprocessing_values_name_the_value_and_the_accepted_forms(fields, words):
    with pytest.raises(ConfigError) as caught:
        PreprocessConfig(**fields)
    assert all(word in str(caught.value) for word in words), str(caught.value)


def test_bad_flags_fail_before_training(cli, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as caught:  # argparse's own refusal of a choice
        cli("train", "--synthetic", "--out", out, "--frames", "every")
    assert caught.value.code == 2 and "invalid choice: 'every'" in capsys.readouterr().err
    result = cli("train", "--synthetic", "--out", out, "--keep-color", "nope")
    assert result.code != 0 and "keep_color 'nope' is not a colour" in result.err
    assert "#rrggbb" in result.err and "Traceback" not in result.err
    result = cli("train", "--synthetic", "--out", out, "--color-tolerance", "-3")
    assert result.code != 0 and "color_tolerance=-3.0" in result.err
    assert not (out / "config.json").exists()


def test_the_preprocessing_round_trips_through_config_json_and_older_configs_load():
    spec = read_spec(BEFORE / "run")  # written before these fields existed
    assert spec.preprocess.frames == "first" and spec.preprocess.keep_color is None
    changed = PreprocessConfig(64, 32, 1, frames="merge", keep_color="#d01010", color_tolerance=90)
    stored = RunSpec(spec.charset, changed, spec.model).to_json()
    again = RunSpec.from_json(json.loads(json.dumps(stored)), "config.json")
    assert again.preprocess == changed
    older = {**stored, "preprocess": {"width": 64, "height": 32, "channels": 1, "resize": "pad"}}
    assert RunSpec.from_json(older, "config.json").preprocess == PreprocessConfig(64, 32, 1, "pad")


def _digest(image: Image.Image) -> str:
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(image.convert("RGB").tobytes())
    image.seek(0)
    return hashlib.sha256(b"".join(frames)).hexdigest()


def test_the_gif_style_spreads_its_characters_over_the_frames(monkeypatch):
    shown: list[list[set[int]]] = []
    real = task_styles.AnimatedGif._frames_of

    def recording(self, length, rng):
        shown.append(real(self, length, rng))
        return shown[-1]

    monkeypatch.setattr(task_styles.AnimatedGif, "_frames_of", recording)
    config = SynthConfig(style="gif", min_length=3, max_length=6)
    samples = [CaptchaSynth(config, seed=2).sample(i) for i in range(12)]
    again = [CaptchaSynth(config, seed=2).sample(i) for i in range(12)]
    assert [(_digest(i), t) for i, t in samples] == [(_digest(i), t) for i, t in again]
    for (image, label), frames in zip(samples, shown, strict=False):
        assert image.format == "GIF" and 2 <= image.n_frames <= 4
        assert set().union(*frames) == set(range(len(label)))  # every character somewhere
        assert all(len(members) < len(label) for members in frames)  # no frame shows them all
        first = preprocess(image, PreprocessConfig(128, 32, 1))
        merged = preprocess(image, PreprocessConfig(128, 32, 1, frames="merge"))
        assert _marked(merged) > _marked(first) + 20  # the other frames' characters


def _marked(model_input: np.ndarray) -> int:
    """Pixels away from the background (the median), dark text on light or light on dark."""
    return int((np.abs(model_input - np.median(model_input)) > 0.3).sum())


def test_the_keep_color_style_labels_only_the_target_colour(monkeypatch):
    drawn: list[tuple[str, list[tuple[int, int, int]]]] = []
    real = task_styles._specs

    def recording(style, text, colours, height, fonts, rng):
        drawn.append((text, list(colours)))
        return real(style, text, colours, height, fonts, rng)

    monkeypatch.setattr(task_styles, "_specs", recording)
    config = SynthConfig(style="keep-color", min_length=3, max_length=5)
    samples = [CaptchaSynth(config, seed=4).sample(i) for i in range(12)]
    again = [CaptchaSynth(config, seed=4).sample(i) for i in range(12)]
    assert [(_digest(i), t) for i, t in samples] == [(_digest(i), t) for i, t in again]
    for (image, label), (text, colours) in zip(samples, drawn, strict=False):
        distances = [float(np.linalg.norm(np.subtract(c, (255, 0, 0)))) for c in colours]
        red = "".join(char for char, d in zip(text, distances, strict=True) if d < 60)
        assert red == label and len(text) > len(label)  # decoys, and only red in the label
        assert all(d < 60 or d >= DECOY_DISTANCE for d in distances)
        assert image.mode == "RGB" and 30 <= image.height <= 60


def test_a_keep_color_style_target_must_be_a_colour():
    with pytest.raises(ConfigError, match="keep-color target 'rouge' is not a colour"):
        task_styles.KeepColour(target="rouge")


def test_synth_writes_gif_files_that_read_as_the_samples(cli, tmp_path):
    out = tmp_path / "gifs"
    result = cli("synth", out, "--style", "gif", "--count", 4, "--length", "3-5")
    assert result.code == 0, result.err
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    synth = CaptchaSynth(SynthConfig(style="gif", min_length=3, max_length=5), seed=0)
    spec = PreprocessConfig(128, 32, 3, frames="merge")
    for index, row in enumerate(rows):
        assert row["path"].endswith(".gif")
        with Image.open(out / row["path"]) as image:
            assert image.format == "GIF" and image.n_frames >= 2
        sample, label = synth.sample(index)
        assert label == row["label"]
        assert np.array_equal(preprocess(out / row["path"], spec), preprocess(sample, spec))


def test_training_on_gif_files_reads_them_as_inference_does(cli, tmp_path):
    from ctcocr.data.augment import AugmentConfig
    from ctcocr.data.samples import read_samples
    from ctcocr.training.datasets import ImageDataset

    data = write_dataset(tmp_path / "gifs", 24, SynthConfig(style="gif", max_length=5), seed=3)
    run = tmp_path / "run"
    result = cli("train", data, "--out", run, "--frames", "merge", "--size", "64x32", *FAST,
                 *SMALL_MODEL)  # fmt: skip
    assert result.code == 0, result.err
    spec = read_spec(run).preprocess
    assert spec.frames == "merge"
    # Augmentation keeps one frame and moves colours: it runs after the frames are merged
    # (and the colour filtered), so at strength 0 training sees what inference sees (at an
    # input size that the images need no shrinking for).
    samples, large = read_samples(data)[:4], replace(spec, width=256, height=64)
    for config in (large, replace(large, keep_color="black", color_tolerance=200)):
        augmented = ImageDataset(samples, config, AugmentConfig().scaled(0.0))
        for index, sample in enumerate(samples):
            assert np.array_equal(augmented[index][0].numpy(), preprocess(sample.path, config))


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> Path:
    from ctcocr.cli.main import main

    run = tmp_path_factory.mktemp("colour") / "run"
    args = [
        "train", "--synthetic", "--style", "keep-color", "--keep-color", "red",
        "--color-tolerance", "100", "--size", "96x32", "--length", "3-5", "--out", str(run),
        "--epoch-size", "32", "--val-size", "16", *FAST, *SMALL_MODEL,
    ]  # fmt: skip
    assert main(args) == 0
    return run


def test_onnx_reads_a_keep_color_model_as_pytorch_does(colour_run, tmp_path, cli):
    from ctcocr.export.onnx_export import export_onnx
    from ctcocr.runtime.onnx_backend import OnnxBackend
    from ctcocr.runtime.recognizer import Recognizer

    onnx_file = export_onnx(colour_run, tmp_path / "colour.onnx").path
    torch_reader, onnx_reader = Recognizer(colour_run), Recognizer(onnx_file)
    expected = PreprocessConfig(96, 32, 1, keep_color="red", color_tolerance=100)
    assert torch_reader.spec.preprocess == onnx_reader.spec.preprocess == expected
    images = write_dataset(
        tmp_path / "test", 8, SynthConfig(style="keep-color", min_length=3, max_length=5), seed=9
    )
    paths = sorted((images / "images").glob("*.png"))
    torch_logits, onnx_logits = torch_reader.logits(paths), onnx_reader.logits(paths)
    assert np.abs(torch_logits - onnx_logits).max() < 1e-4
    # Both read the filtered pictures: the network's logits of those, not of the raw ones.
    network = OnnxBackend(onnx_file)
    filtered = network.logits(preprocess_batch(paths, expected))
    raw = network.logits(preprocess_batch(paths, replace(expected, keep_color=None)))
    assert np.abs(filtered - onnx_logits).max() < 1e-5 and np.abs(raw - onnx_logits).max() > 1e-3
    result = cli("verify", onnx_file, images, "--run", colour_run, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["passed"] is True


def test_a_run_begun_before_these_fields_resumes_and_a_changed_filter_is_refused(
    cli, tiny_dataset, tmp_path
):
    out = tmp_path / "run"
    assert cli("train", tiny_dataset, "--out", out, *FAST, *SMALL_MODEL).code == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    for added in ("frames", "keep_color", "color_tolerance"):  # as an older ctcocr wrote it
        del config["preprocess"][added]
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    more = ("--epochs", "2", "--batch-size", "8", "--workers", "0", *SMALL_MODEL, "--resume")
    refused = cli("train", tiny_dataset, "--out", out, *more, "--keep-color", "red")
    assert refused.code == 2 and "another preprocess" in refused.err
    resumed = cli("train", tiny_dataset, "--out", out, *more)
    assert resumed.code == 0, resumed.err
    assert len((out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize(
    ("style", "flags", "needle"),
    [
        ("gif", (), "--frames merge"),
        ("keep-color", (), "--keep-color red"),
        ("keep-color", ("--keep-color", "blue"), "--keep-color red"),
    ],
)
def test_task_styles_need_their_preprocessing(cli, tmp_path, style, flags, needle):
    result = cli(
        "train", "--synthetic", "--style", style, *flags, "--out", tmp_path / "run",
        "--epochs", "1", "--epoch-size", "16", "--val-size", "8", "--workers", "0",
    )  # fmt: skip
    assert result.code != 0 and needle in result.err, result.err
    assert not (tmp_path / "run" / "config.json").exists()
