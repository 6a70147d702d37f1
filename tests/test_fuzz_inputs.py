"""Fuzzing the readers of untrusted input: whatever the bytes, only ctcocr's own errors come out.

Random bytes and damaged real images go into image loading and preprocessing; random text
and bytes go into the CSV and tab-separated label readers. A `CtcocrError` (named file, fix)
or a valid result is fine; any other exception, or a warning, is a bug. Kept fast: a few
hundred examples in all, no deadline (the machine is shared).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import CtcocrError, ImageError
from ctcocr.data.images import load_image, preprocess
from ctcocr.data.samples import Sample, read_manifest, read_tab_list
from ctcocr.data.synth import CaptchaSynth, SynthConfig

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GRAY = PreprocessConfig(width=64, height=32, channels=1)
RGB = PreprocessConfig(width=64, height=32, channels=3, resize="pad")
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")


def _encoded(fmt: str) -> bytes:
    image, _ = CaptchaSynth(SynthConfig(width=64, height=32), seed=3).sample(0)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


REAL = {fmt: _encoded(fmt) for fmt in FORMATS}


def assert_reads_or_refuses(data: bytes) -> None:
    """load_image + preprocess either give a (C, H, W) array or raise an ImageError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning leaking out of Pillow is a failure too
        try:
            image = load_image(data, name="fuzz")
        except ImageError as error:
            assert str(error).startswith("fuzz: ")
            return
        for config in (GRAY, RGB):
            array = preprocess(image, config)
            assert array.shape == (config.channels, config.height, config.width)
            assert np.isfinite(array).all()


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_an_image_error(data):
    assert_reads_or_refuses(data)


@FUZZ
@given(st.sampled_from(FORMATS), st.binary(min_size=1, max_size=16))
def test_random_bytes_after_a_real_header(fmt, tail):
    assert_reads_or_refuses(REAL[fmt][:32] + tail)


@FUZZ
@given(
    st.sampled_from(FORMATS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_mutated_real_images(fmt, flips, cut):
    data = bytearray(REAL[fmt])
    for position, value in flips:
        data[position % len(data)] = value
    assert_reads_or_refuses(bytes(data[: max(1, cut % (len(data) + 1))]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_truncation_of_a_real_image(fmt):
    data = REAL[fmt]
    for end in range(0, len(data), max(1, len(data) // 97)):
        assert_reads_or_refuses(data[:end])


# --- label lists ----------------------------------------------------------------------------

CSV_PIECES = st.sampled_from(
    ["path", "label", ",", "\n", "\r\n", '"', "images/a.png", "a.png", "AB12", "\t", " ", "é",
     "\ufeff", "\x00", "../", "/", "京"]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=200), st.lists(CSV_PIECES, max_size=40).map("".join))


def _folder_with_an_image() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ctcocr-fuzz-"))
    (folder / "images").mkdir()
    (folder / "a.png").write_bytes(REAL["PNG"])
    (folder / "images" / "a.png").write_bytes(REAL["PNG"])
    return folder


def assert_samples_or_error(read, path: Path) -> None:
    try:
        samples = read(path)
    except CtcocrError as error:
        assert str(error)
        return
    assert all(isinstance(s, Sample) and s.path.is_file() for s in samples)
    assert all(isinstance(s.label, str) for s in samples)


@FUZZ
@given(st.one_of(TEXT.map(lambda t: ("path,label\n" + t).encode("utf-8")), st.binary(max_size=300)))
def test_random_csv_manifests(data):
    folder = _folder_with_an_image()
    manifest = folder / "labels.csv"
    manifest.write_bytes(data)
    assert_samples_or_error(read_manifest, manifest)


@FUZZ
@given(st.one_of(TEXT.map(lambda t: t.encode("utf-8")), st.binary(max_size=300)))
def test_random_tab_lists(data):
    folder = _folder_with_an_image()
    listing = folder / "list.txt"
    listing.write_bytes(data)
    assert_samples_or_error(read_tab_list, listing)


def test_fuzzing_reaches_valid_samples():
    """The label fuzzers can produce valid lists: a test that only ever saw errors proves little."""
    folder = _folder_with_an_image()
    (folder / "labels.csv").write_text("path,label\nimages/a.png,AB12\n", encoding="utf-8")
    (folder / "list.txt").write_text("a.png\tAB 12\n", encoding="utf-8")
    assert read_manifest(folder / "labels.csv")[0].label == "AB12"
    assert read_tab_list(folder / "list.txt")[0].label == "AB 12"
    assert load_image(REAL["PNG"]).size == (64, 32)
    with Image.open(io.BytesIO(REAL["GIF"])) as gif:
        assert gif.format == "GIF"
