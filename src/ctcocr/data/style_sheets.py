"""Pictures of the synthesis styles: a sheet of samples per style, labels under them, and one
overview with a row per style (`ctcocr styles --out DIR`).

Samples keep their own size up to the cell's (small ones are shown at twice their size, with
pixels kept sharp); transparent pixels show as a grey checkerboard.

>>> sheet = style_sheet("warped", seed=0, rows=2, columns=3)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from ctcocr.core.run_folder import write_atomic
from ctcocr.data.fonts import available_fonts, open_font
from ctcocr.data.styles import STYLES
from ctcocr.data.synth import CaptchaSynth, SynthConfig

CELL = (200, 64)  # the largest a sample is shown
CAPTION = 16  # pixels under each sample for its label
GAP = 6
NAME_WIDTH = 110  # the overview's column of style names
INK = (20, 20, 20)


def _caption_font():
    fonts = available_fonts()
    regular = [f for f in fonts if f.path.stem == "DejaVuSans"] or list(fonts)
    return open_font(regular[0].path, 12)


def _checker(size: tuple[int, int]) -> Image.Image:
    board = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], 6):
        for x in range((y // 6) % 2 * 6, size[0], 12):
            draw.rectangle((x, y, x + 5, y + 5), fill=(215, 215, 215))
    return board


def _shown(image: Image.Image, cell: tuple[int, int]) -> Image.Image:
    """The sample as RGB, fitted into the cell; transparency over a checkerboard."""
    scale = min(2.0, cell[0] / image.width, cell[1] / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BILINEAR
    rgba = image.convert("RGBA").resize(size, resample)
    board = _checker(size)
    board.paste(rgba, (0, 0), rgba)
    return board


def _samples(style: str, seed: int, count: int, length: tuple[int, int], font_dir: str):
    config = SynthConfig(style=style, min_length=length[0], max_length=length[1], font_dir=font_dir)
    synth = CaptchaSynth(config, seed)
    return [synth.sample(index) for index in range(count)]


def style_sheet(
    style: str,
    seed: int = 0,
    rows: int = 4,
    columns: int = 6,
    length: tuple[int, int] = (3, 7),
    font_dir: str = "",
) -> Image.Image:
    """rows x columns samples of `style`, each with its label and size under it."""
    samples = _samples(style, seed, rows * columns, length, font_dir)
    pitch_x, pitch_y = CELL[0] + GAP, CELL[1] + CAPTION + GAP
    sheet = Image.new("RGB", (columns * pitch_x + GAP, rows * pitch_y + GAP), (255, 255, 255))
    draw, font = ImageDraw.Draw(sheet), _caption_font()
    for index, (image, label) in enumerate(samples):
        x, y = GAP + (index % columns) * pitch_x, GAP + (index // columns) * pitch_y
        sheet.paste(_shown(image, CELL), (x, y))
        caption = f"{label}   {image.width}x{image.height} {image.mode}"
        draw.text((x, y + CELL[1] + 1), caption, fill=INK, font=font)
    return sheet


def styles_overview(
    names: Sequence[str], seed: int = 0, columns: int = 5, length: tuple[int, int] = (3, 7)
) -> Image.Image:
    """One row per style: its name, then `columns` samples at half the sheet's cell size."""
    cell = (CELL[0] // 2 + 20, CELL[1] // 2 + 4)
    pitch_x, pitch_y = cell[0] + GAP, cell[1] + GAP
    size = (NAME_WIDTH + columns * pitch_x + GAP, len(names) * pitch_y + GAP)
    overview = Image.new("RGB", size, (255, 255, 255))
    draw, font = ImageDraw.Draw(overview), _caption_font()
    for row, name in enumerate(names):
        y = GAP + row * pitch_y
        draw.text((GAP, y + cell[1] // 2 - 7), name, fill=INK, font=font)
        for column, (image, _) in enumerate(_samples(name, seed, columns, length, "")):
            overview.paste(_shown(image, cell), (NAME_WIDTH + column * pitch_x, y))
    return overview


def _save_png(path: Path, image: Image.Image) -> None:
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


def write_style_sheets(
    out: Path, names: Sequence[str], seed: int, length: tuple[int, int], font_dir: str = ""
) -> list[Path]:
    """out/NAME.png for each style, out/overview.png, and out/index.md (a table: name, what it
    draws, its sheet) -> the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rows = ["| style | what it draws | samples |", "|---|---|---|"]
    for name in names:
        path = out / f"{name}.png"
        sheet = style_sheet(name, seed, length=length, font_dir=font_dir)
        _save_png(path, sheet)
        written.append(path)
        about = " ".join((type(STYLES[name]).__doc__ or "").split())
        rows.append(f"| `{name}` | {about} | ![{name}]({name}.png) |")
    # 256 colours: a third of the bytes, small enough to commit as a documentation figure
    overview = styles_overview(names, seed, length=length).quantize(256)
    _save_png(out / "overview.png", overview)
    index = "\n".join([f"# Synthesis styles (seed {seed})", "", "![overview](overview.png)", ""])
    text = index + "\n" + "\n".join(rows) + "\n"
    write_atomic(out / "index.md", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return [*written, out / "overview.png", out / "index.md"]
