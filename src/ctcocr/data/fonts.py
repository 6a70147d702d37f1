"""The fonts synthesis draws with: found on disk, checked once, opened per size.

Where they come from, in this order:
- every Latin text face matplotlib ships (DejaVu Sans, Serif and Mono with their bold and oblique
  cuts, STIX General, Computer Modern cmr10/cmb10/cmss10/cmtt10/cmti10), found through the
  package's folder without importing matplotlib;
- the `captcha` package's DroidSansMono;
- optionally, Google Fonts families from installed `fontpkg-*` packages (the `fonts` extra),
  found through their `fontpkg.family` entry points; handwriting faces and light weights are
  left out, since at 20 pixels they stop being the characters of the label;
- optionally, a folder of .ttf/.otf files the user names (`--font-dir`).

A font is used for a text only if it has a glyph of its own for every character (Computer
Modern has no `×`, for one). The same seed draws the same images with the same set of fonts.

>>> fonts = available_fonts()
>>> font = open_font(fonts[0], 32)
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from PIL import ImageFont

from ctcocr.core.charset import GENERAL_CHARSET
from ctcocr.core.errors import DataError

FONT_SUFFIXES = (".ttf", ".otf")
# matplotlib's faces with Latin letters and digits of their own (the others are symbol, math
# italic or last-resort faces): file stem -> (family, group).
MATPLOTLIB_FACES = {
    **{
        f"DejaVuSans{cut}": ("DejaVu Sans", "sans")
        for cut in ("", "-Bold", "-Oblique", "-BoldOblique")
    },
    **{
        f"DejaVuSansMono{cut}": ("DejaVu Sans Mono", "mono")
        for cut in ("", "-Bold", "-Oblique", "-BoldOblique")
    },
    **{
        f"DejaVuSerif{cut}": ("DejaVu Serif", "serif")
        for cut in ("", "-Bold", "-Italic", "-BoldItalic")
    },
    **{f"STIXGeneral{cut}": ("STIX General", "serif") for cut in ("", "Bol", "Italic", "BolIta")},
    "cmr10": ("Computer Modern", "serif"),
    "cmb10": ("Computer Modern", "serif"),
    "cmti10": ("Computer Modern", "serif"),
    "cmss10": ("Computer Modern", "sans"),
    "cmtt10": ("Computer Modern", "mono"),
}
FONTPKG_GROUPS = {"SERIF": "serif", "SANS_SERIF": "sans", "MONOSPACE": "mono", "DISPLAY": "display"}
THIN_WEIGHTS = ("Thin", "Light", "Hairline")  # ExtraLight too
GROUPS = ("serif", "sans", "mono", "display")
# Fonts are opened at these sizes only and glyphs scaled down from the next one up: Pillow holds
# ~60 KB per open face and size, and a font per (file, size) in every loader worker would grow
# to hundreds of MB.
FONT_SIZES = (12, 16, 21, 28, 37, 49, 64, 84)


@dataclass(frozen=True)
class Font:
    """One font file: where it is, its family and group, and which characters it draws."""

    path: Path
    family: str  # a family is chosen first, then one of its files: big families weigh no more
    group: str  # serif, sans, mono or display
    chars: frozenset[str]

    def covers(self, text: str) -> bool:
        return all(c in self.chars for c in text)


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


FontFile = tuple[Path, str, str]  # path, family, group


def _matplotlib_files() -> list[FontFile]:
    root = _package_folder("matplotlib")
    if root is None:
        return []
    folder = root / "mpl-data" / "fonts" / "ttf"
    return [(folder / f"{stem}.ttf", *face) for stem, face in MATPLOTLIB_FACES.items()]


def _captcha_files() -> list[FontFile]:
    root = _package_folder("captcha")
    return (
        [] if root is None else [(root / "data" / "DroidSansMono.ttf", "Droid Sans Mono", "mono")]
    )


def _fontpkg_files() -> list[FontFile]:
    """Font files of installed fontpkg-* families, from their metadata.json."""
    found = []
    for point in sorted(entry_points(group="fontpkg.family"), key=lambda p: p.value):
        root = _package_folder(point.value)
        meta_path = root / "metadata.json" if root is not None else None
        if meta_path is None or not meta_path.is_file():
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        groups = [FONTPKG_GROUPS[c] for c in meta.get("category", []) if c in FONTPKG_GROUPS]
        if "HANDWRITING" in meta.get("category", []) or not groups:
            continue
        for entry in meta.get("files", []):
            path = root / entry["path"]  # type: ignore[operator]
            if not any(weight in path.name for weight in THIN_WEIGHTS):
                found.append((path, str(meta.get("family", point.value)), groups[0]))
    return found


def _folder_files(folder: Path) -> list[FontFile]:
    if not folder.is_dir():
        raise DataError(f"--font-dir {folder}: no such folder: name a folder of .ttf/.otf files")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FONT_SUFFIXES)
    if not files:
        raise DataError(f"--font-dir {folder}: no .ttf or .otf files in it")
    return [(path, path.stem, "display") for path in files]


@lru_cache(maxsize=256)
def font_chars(path: Path) -> frozenset[str]:
    """The characters of GENERAL_CHARSET that `path` draws with a glyph of its own.

    Pillow has no "has glyph" call: a missing character is drawn as the font's .notdef glyph,
    so a character whose bitmap equals that of an unassigned code point is missing."""
    font = open_font(path, 24)
    missing = font.getmask("\U0010fffd")
    notdef = (missing.size, bytes(missing))
    drawn = set()
    for char in GENERAL_CHARSET:
        mask = font.getmask(char)
        if mask.size[0] * mask.size[1] and (mask.size, bytes(mask)) != notdef:
            drawn.add(char)
    return frozenset(drawn)


@lru_cache(maxsize=8)
def available_fonts(font_dir: str = "") -> tuple[Font, ...]:
    """Every usable font: matplotlib's, captcha's, fontpkg's, then those in `font_dir`."""
    files = _matplotlib_files() + _captcha_files() + _fontpkg_files()
    if font_dir:
        files += _folder_files(Path(font_dir))
    fonts = []
    for path, family, group in files:
        if not path.is_file():
            continue  # a package without this face: draw with the others
        chars = font_chars(path)
        if chars:
            fonts.append(Font(path, family, group, chars))
    if not fonts:
        raise DataError(
            "no fonts to draw with: install matplotlib and captcha (pip install 'ctcocr[train]')"
        )
    return tuple(fonts)


def font_size_for(size: float) -> int:
    """The size to open a font at for glyphs `size` pixels tall: the next of FONT_SIZES up."""
    return next((s for s in FONT_SIZES if s >= size), FONT_SIZES[-1])


@lru_cache(maxsize=512)
def open_font(path: Path, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """`path` at `size` pixels. A variable font's weight axis is set to 400, or 700 if `bold`
    (its default instance may be a hairline); a static font's weight is its file's."""
    try:
        font = ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read this font ({exc}): remove the file or replace it with a "
            ".ttf/.otf that opens"
        ) from exc
    if is_variable(path):
        _set_weight(font, 700 if bold else 400)
    return font


def _set_weight(font: ImageFont.FreeTypeFont, weight: float) -> None:
    try:
        axes = font.get_variation_axes()
    except OSError:
        return  # not a variable font: its weight is the file's
    values: list[float] = []
    for axis in axes:
        raw = axis.get("name")
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        low, default, high = (
            float(str(axis.get(k) or 0)) for k in ("minimum", "default", "maximum")
        )
        values.append(min(max(weight, low), high) if name.lower() == "weight" else default)
    font.set_variation_by_axes(values)


def is_variable(path: Path) -> bool:
    """Whether the file has a weight axis (fontpkg's variable fonts are named `X[wght].ttf`)."""
    return "wght" in path.name
