"""Test images in a grid, with the truth and the reading under each (`predictions.png`).

Pure Pillow: no matplotlib needed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ctcocr.core.run_folder import write_atomic

CELL_WIDTH, PAD, LINE_HEIGHT = 192, 6, 18
RIGHT, WRONG, BLACK = (0, 120, 0), (200, 0, 0), (0, 0, 0)


def prediction_grid(
    images: list[Image.Image],
    truths: list[str],
    predictions: list[str],
    out_path: Path,
    columns: int = 4,
    confidences: list[float] | None = None,
) -> Path:
    """Lay `images` out in a grid with "truth:" and "pred:" under each; write a PNG atomically.

    Each image is scaled to a 192 px wide cell, keeping its aspect ratio. The prediction line is
    dark green when it equals the truth and red otherwise, followed by " (97%)" when
    `confidences` (0..1) is given. Returns `out_path`. Raises `ValueError` if the lists are
    empty or differ in length, or if `columns` is below 1.

    >>> prediction_grid([image], ["7K3QX"], ["7K3QX"], Path("grid.png"))
    PosixPath('grid.png')
    """
    _check(len(images), truths, predictions, columns, confidences)
    scaled = [_scaled(image) for image in images]
    columns = min(columns, len(images))
    rows = [scaled[start : start + columns] for start in range(0, len(scaled), columns)]
    heights = [max(im.height for im in row) for row in rows]
    tops = [PAD + sum(heights[:r]) + r * (2 * LINE_HEIGHT + 2 * PAD) for r in range(len(rows))]
    size = (columns * (CELL_WIDTH + PAD) + PAD, tops[-1] + heights[-1] + 2 * LINE_HEIGHT + PAD)
    canvas = Image.new("RGB", size, "white")
    draw, font = ImageDraw.Draw(canvas), _font()
    for index, image in enumerate(scaled):
        r, c = divmod(index, columns)
        x, y = PAD + c * (CELL_WIDTH + PAD), tops[r]
        canvas.paste(image, (x, y))
        draw.rectangle((x - 1, y - 1, x + CELL_WIDTH, y + image.height), outline=(200, 200, 200))
        suffix = "" if confidences is None else f" ({confidences[index]:.0%})"
        colour = RIGHT if predictions[index] == truths[index] else WRONG
        lines = [
            (f"truth: {truths[index]}", BLACK),
            (f"pred: {predictions[index]}{suffix}", colour),
        ]
        for number, (text, fill) in enumerate(lines):
            _text(draw, (x, y + heights[r] + PAD // 2 + number * LINE_HEIGHT), text, fill, font)
    write_atomic(Path(out_path), lambda tmp: canvas.save(tmp, format="PNG"))
    return Path(out_path)


def _check(
    count: int,
    truths: list[str],
    predictions: list[str],
    columns: int,
    confidences: list[float] | None,
) -> None:
    lengths = {count, len(truths), len(predictions)}
    if confidences is not None:
        lengths.add(len(confidences))
    if len(lengths) != 1:
        raise ValueError(f"prediction_grid: the lists must have the same length, got {lengths}")
    if count == 0:
        raise ValueError("prediction_grid: no images given")
    if columns < 1:
        raise ValueError(f"prediction_grid: columns must be at least 1, got {columns}")


def _scaled(image: Image.Image) -> Image.Image:
    height = max(1, round(image.height * CELL_WIDTH / max(1, image.width)))
    return image.convert("RGB").resize((CELL_WIDTH, height), Image.Resampling.LANCZOS)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    text: str,
    fill: tuple[int, int, int],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    try:
        draw.text(xy, text, fill=fill, font=font)
    except UnicodeEncodeError:  # a bitmap font that cannot encode these characters
        draw.text(xy, text.encode("ascii", "replace").decode(), fill=fill, font=font)
