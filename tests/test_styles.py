"""Synthesis styles: each draws what it promises (sizes, labels, determinism), the default style
is the picture it always was, and bad names, fonts and charsets get clear errors."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import string
import types

import pytest
from conftest import FAST, SMALL_MODEL
from PIL import Image

from ctcocr.core.charset import DEFAULT_CHARSET, GENERAL_CHARSET
from ctcocr.core.errors import ConfigError, DataError
from ctcocr.data import fonts
from ctcocr.data.styles import STYLES, Mix
from ctcocr.data.synth import CaptchaSynth, SynthConfig

DRAWN = [name for name in STYLES if name != "captcha"]
EXPRESSION = re.compile(r"^[1-9]\d?[+\-×][1-9]\d?(=|=\?)?$")


def _draw(style: str, count: int, seed: int = 3, **config) -> list[tuple[Image.Image, str]]:
    synth = CaptchaSynth(SynthConfig(style=style, **config), seed)
    return [synth.sample(index) for index in range(count)]


def _digest(image: Image.Image) -> str:
    return hashlib.sha256(image.mode.encode() + image.tobytes()).hexdigest()


@pytest.mark.parametrize("style", DRAWN)
def test_every_style_is_deterministic_sized_and_labelled_within_bounds(style):
    samples = _draw(style, 8, min_length=1, max_length=8)
    again = _draw(style, 8, min_length=1, max_length=8)
    assert [_digest(i) for i, _ in samples] == [_digest(i) for i, _ in again]
    assert [label for _, label in samples] == [label for _, label in again]
    charset = SynthConfig(style=style).charset
    for image, label in samples:
        # a GIF's frames are palette images
        assert image.mode in ("RGB", "L", "RGBA") or (style == "gif" and image.mode == "P")
        if isinstance(STYLES[style], Mix) and image.size == (128, 64):
            continue  # the captcha style inside mix: --size
        assert 20 <= image.height <= 80, (style, image.size)
        assert 1.9 <= image.width / image.height <= 6.1, (style, image.size)
        assert 1 <= len(label) <= 8 and set(label) <= set(charset), label
    other_seed = _draw(style, 8, seed=4, min_length=1, max_length=8)
    assert [_digest(i) for i, _ in samples] != [_digest(i) for i, _ in other_seed]


def test_captcha_style_is_byte_identical_to_the_images_before_styles():
    # Recorded before styles existed (captcha 0.7.1, Pillow 13.0): `ctcocr synth` and
    # `train --synthetic` without --style must keep drawing exactly these.
    before = [
        ("NVNF", "fa1ecbedd99fe731ea62a733c3828298e7434ff7eeffd9f38c736d8f72ee312f"),
        ("PHE9O", "a011226d0bbca78975bfba7765488c2c05e51935d898ab38c1b9385597f7ed35"),
        ("8UE8S", "4b553b3f6c0848022562ad0d52c2fad330926c0f505be1a691bd6c5279b68d42"),
    ]
    synth = CaptchaSynth(SynthConfig(), seed=0)
    assert SynthConfig().charset == DEFAULT_CHARSET
    for index, (label, digest) in enumerate(before):
        image, drawn = synth.sample(index)
        assert (drawn, image.size) == (label, (128, 64))
        assert hashlib.sha256(image.tobytes()).hexdigest() == digest


def test_mix_draws_the_union_of_the_styles_and_a_charset_narrows_it():
    assert SynthConfig(style="mix").charset == GENERAL_CHARSET
    labels = [label for _, label in _draw("mix", 60, min_length=1, max_length=8)]
    drawn = set("".join(labels))
    assert drawn & set(string.ascii_lowercase) and drawn & set(string.ascii_uppercase)
    assert drawn & set("+-×")
    digits = [label for _, label in _draw("mix", 30, charset=string.digits)]
    assert all(label.isdigit() for label in digits)
    lower = string.digits + string.ascii_lowercase
    assert all(set(label) <= set(lower) for _, label in _draw("plain", 30, charset=lower))


def test_arithmetic_texts_are_expressions_that_fit_the_length():
    for low, high in ((3, 3), (4, 5), (3, 8)):
        for _, label in _draw("arithmetic", 20, min_length=low, max_length=high):
            assert EXPRESSION.match(label), label
            assert low <= len(label) <= high, (label, low, high)
    assert all(len(label) == 3 for _, label in _draw("arithmetic", 10, min_length=3, max_length=3))


def test_text_kinds_of_styles():
    assert all(label.isdigit() for _, label in _draw("digits", 20))
    cases = {"upper": 0, "lower": 0}
    for _, label in _draw("plain", 40, charset=string.ascii_letters):
        cases["upper"] += label.isupper()
        cases["lower"] += label.islower()
    assert cases["upper"] and cases["lower"], cases


def test_unknown_style_lists_the_names():
    with pytest.raises(ConfigError, match=r"unknown style 'nope'.*mix"):
        SynthConfig(style="nope")


@pytest.mark.parametrize(
    ("style", "charset", "length"), [("arithmetic", "ABC", (4, 6)), ("digits", "abc", (4, 6)),
                                     ("arithmetic", "", (1, 2))],
)  # fmt: skip
def test_a_style_that_draws_nothing_within_the_charset_is_refused(style, charset, length):
    with pytest.raises(ConfigError, match=f"style '{style}' draws nothing"):
        SynthConfig(style=style, charset=charset, min_length=length[0], max_length=length[1])


def test_an_unreadable_font_is_named(tmp_path):
    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / "broken.ttf").write_bytes(b"not a font at all")
    with pytest.raises(DataError, match=r"broken\.ttf"):
        CaptchaSynth(SynthConfig(style="plain", font_dir=str(folder)), seed=0)
    with pytest.raises(DataError, match="no such folder"):
        CaptchaSynth(SynthConfig(style="plain", font_dir=str(tmp_path / "absent")), seed=0)


def test_a_font_folder_adds_its_fonts(tmp_path):
    dejavu = next(f.path for f in fonts.available_fonts() if f.path.stem == "DejaVuSerif")
    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / "Mine.ttf").write_bytes(dejavu.read_bytes())
    added = [f for f in fonts.available_fonts(str(folder)) if f.path.parent == folder]
    assert [f.family for f in added] == ["Mine"]
    assert set(GENERAL_CHARSET) <= added[0].chars


def test_fontpkg_families_are_found_and_handwriting_is_left_out(tmp_path, monkeypatch):
    dejavu = next(f.path for f in fonts.available_fonts() if f.path.stem == "DejaVuSans")
    for name, category in (("fake_serif", "SERIF"), ("fake_script", "HANDWRITING")):
        package = tmp_path / name
        (package / "files").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "files" / "Fake-Regular.ttf").write_bytes(dejavu.read_bytes())
        (package / "files" / "Fake-Thin.ttf").write_bytes(dejavu.read_bytes())
        files = [{"path": "files/Fake-Regular.ttf"}, {"path": "files/Fake-Thin.ttf"}]
        meta = {"family": name, "category": [category], "files": files}
        (package / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [types.SimpleNamespace(value=n) for n in ("fake_serif", "fake_script")]
    monkeypatch.setattr(fonts, "entry_points", lambda group: points)
    found = fonts._fontpkg_files()
    assert [(path.name, family, group) for path, family, group in found] == [
        ("Fake-Regular.ttf", "fake_serif", "serif")
    ]


def test_synth_command_writes_a_dataset_of_a_style(cli, tmp_path):
    out = tmp_path / "set"
    result = cli("synth", out, "--style", "arithmetic", "--count", 5, "--length", "3-7")
    assert result.code == 0, result.err
    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    for row in rows:
        assert EXPRESSION.match(row["label"]), row["label"]
        with Image.open(out / row["path"]) as image:
            assert 20 <= image.height <= 80


def test_synth_command_refuses_an_unknown_style(cli, tmp_path):
    result = cli("synth", tmp_path / "set", "--style", "fancy")
    assert result.code == 2 and "unknown style 'fancy'" in result.err and "warped" in result.err
    assert not (tmp_path / "set").exists()


def test_train_on_the_mix(cli, tmp_path):
    result = cli(
        "train", "--synthetic", "--style", "mix", "--length", "1-8", "--out", tmp_path / "run",
        "--epoch-size", 32, "--val-size", 16, *FAST, *SMALL_MODEL,
    )  # fmt: skip
    assert result.code == 0, result.err
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["charset"] == GENERAL_CHARSET
    assert config["training"]["data"]["synth"]["style"] == "mix"
    assert config["model"]["time_steps"] >= 17  # 2 * 8 + 1


def test_styles_command_draws_sheets_and_an_index(cli, tmp_path):
    out = tmp_path / "gallery"
    result = cli("styles", "--out", out, "--only", "plain,arithmetic")
    assert result.code == 0, result.err
    assert "warped" not in result.out and "arithmetic" in result.out
    for name in ("plain.png", "arithmetic.png", "overview.png"):
        with Image.open(out / name) as image:
            assert image.width > 300 and image.height > 80
    index = (out / "index.md").read_text(encoding="utf-8")
    assert "![plain](plain.png)" in index and "Arithmetic questions" in index
    assert cli("styles", "--only", "nope").code == 2


def test_styles_are_documented_and_weighted():
    for name, style in STYLES.items():
        assert style.name == name
        assert type(style).__doc__ and len(type(style).__doc__.split()) > 8, name
        assert style.weight > 0 or isinstance(style, Mix) or name == "condensed"
    assert 10 <= len(STYLES) <= 17


def test_drawing_reads_no_torch():
    import subprocess
    import sys

    code = "import sys, ctcocr.data.synth, ctcocr.data.style_sheets; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_the_default_style_is_captcha():
    default = CaptchaSynth(SynthConfig(), seed=1).sample(0)
    named = CaptchaSynth(SynthConfig(style="captcha"), seed=1).sample(0)
    assert default[1] == named[1] and _digest(default[0]) == _digest(named[0])


def test_glyph_width_condenses_each_character_and_the_line():
    import numpy as np

    from ctcocr.data.fonts import available_fonts, open_font
    from ctcocr.data.glyphs import GlyphSpec, glyph_tile, text_line

    font = open_font(available_fonts()[0].path, 40)
    tiles, lines = {}, {}
    for width in (1.0, 0.6, 1.3):
        specs = [GlyphSpec(c, font, 40.0, (0, 0, 0), "solid", 0.0, 0.0, width) for c in "mw"]
        tiles[width] = glyph_tile(specs[0], np.random.default_rng(0))
        lines[width] = text_line(specs, [2.0, 2.0], np.random.default_rng(0))
    for width in (0.6, 1.3):
        assert tiles[width].height == tiles[1.0].height
        assert lines[width].height == lines[1.0].height
        assert tiles[width].width == pytest.approx(tiles[1.0].width * width, abs=1)
        # the advance shrinks with the glyph: no wider gaps between condensed characters
        assert lines[width].width == pytest.approx(lines[1.0].width * width, rel=0.12)


def test_the_condensed_style_draws_narrower_glyphs_than_its_fonts():
    from dataclasses import replace

    import numpy as np

    from ctcocr.data.fonts import available_fonts
    from ctcocr.data.render import draw_captcha
    from ctcocr.data.styles import mix_components, style_named

    condensed = style_named("condensed")
    assert condensed.glyph_width[1] < 1.0
    assert condensed not in mix_components()  # the shipped general model never saw it
    plain = replace(condensed, glyph_width=(1.0, 1.0), spacing=(0.0, 0.0), lines=(0, 0))
    narrow = replace(plain, glyph_width=(0.6, 0.6))
    fonts = available_fonts()

    def ink_width(style):
        image = draw_captcha(style, "mwmw", fonts, np.random.default_rng(5)).convert("L")
        dark = np.asarray(image) < 100
        columns = np.flatnonzero(dark.any(axis=0))
        return columns[-1] - columns[0]

    assert ink_width(narrow) < 0.8 * ink_width(plain)
