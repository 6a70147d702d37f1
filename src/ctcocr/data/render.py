"""The drawing engine: a style, a text and a seeded generator -> one CAPTCHA image.

The order of the layers: background; grid and some curves behind the text; the text line and
the other curves on a transparent layer, warped as one; dots; a frame; blur; the scale-up of a
low-resolution drawing; JPEG or transparency last, as a web server would deliver the file.

>>> image = draw_captcha(style_named("warped"), "x7Kp", available_fonts(), rng)
>>> image.mode in ("RGB", "RGBA", "L")
True
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ctcocr.core.errors import DataError
from ctcocr.data.draw import Colour, background, colour, draw_curve, draw_dots, draw_grid
from ctcocr.data.fonts import Font, font_size_for, open_font
from ctcocr.data.glyphs import GlyphSpec, text_line
from ctcocr.data.style_base import Style

LINE_HEIGHT = 40.0  # the height at which Style.line_width and Style.blur are given


def draw_captcha(style: Style, text: str, fonts: tuple[Font, ...], rng: np.random.Generator):
    """One image of `text` in `style` (RGB, greyscale L, or RGBA with transparency)."""
    height = int(rng.integers(style.height[0], style.height[1] + 1))
    scale = rng.uniform(1.5, 2.2) if rng.random() < style.low_resolution else 1.0
    drawn_height = max(16, round(height / scale))
    light = bool(rng.random() < style.dark_text)  # a light background, dark text
    specs = _glyphs(style, text, fonts, drawn_height, light, rng)
    size = specs[0].size
    gaps = [rng.uniform(*style.spacing) * size for _ in specs]
    line = text_line(specs, gaps, rng)
    image, ink = _compose(style, line, drawn_height, light, specs[0].colour, rng)
    if scale == 1.0 and style.blur[1] > 0:  # a scaled-up drawing is blurred enough
        radius = rng.uniform(*style.blur) * height / LINE_HEIGHT
        image = image.filter(ImageFilter.GaussianBlur(radius)) if radius > 0.2 else image
    if scale != 1.0:
        resample = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)[
            int(rng.integers(0, 3))
        ]
        target = (round(image.width * height / image.height), height)
        image = image.resize(target, resample)
        ink = ink.resize(target, Image.Resampling.BILINEAR)
    return _deliver(style, image, ink, light, rng)


def _pick_fonts(style: Style, text: str, fonts: tuple[Font, ...]) -> list[Font]:
    grouped = [f for f in fonts if f.group in style.fonts] or list(fonts)
    covering = [f for f in grouped if f.covers(text)] or [f for f in fonts if f.covers(text)]
    if not covering:
        raise DataError(f"no font draws every character of {text!r}: add one with --font-dir")
    return covering


def _choose(fonts: list[Font], rng: np.random.Generator) -> Font:
    """A family, then one of its files."""
    families = sorted({font.family for font in fonts})
    family = families[int(rng.integers(0, len(families)))]
    files = [font for font in fonts if font.family == family]
    return files[int(rng.integers(0, len(files)))]


def _glyphs(
    style: Style, text: str, fonts: tuple[Font, ...], height: int, light: bool, rng
) -> list[GlyphSpec]:
    """Font, size, width, colour, effect, rotation and rise of each character."""
    chosen = _choose(_pick_fonts(style, text, fonts), rng)
    bold = bool(rng.random() < style.bold)
    base = height * rng.uniform(*style.glyph_size)
    per_char = bool(rng.random() < style.colour_per_char)
    text_colour = colour(rng, light=not light, saturated=rng.random() < 0.5)
    effect = style.effects[int(rng.integers(0, len(style.effects)))]
    width = rng.uniform(*style.glyph_width) if style.glyph_width != (1.0, 1.0) else 1.0
    specs = []
    for char in text:
        if style.font_per_char:
            chosen = _choose(_pick_fonts(style, char, fonts), rng)
        size = max(8.0, base * (1 + rng.uniform(-1, 1) * style.size_jitter))
        font = open_font(chosen.path, font_size_for(size), bold)
        fill = colour(rng, light=not light) if per_char else text_colour
        rotation = rng.uniform(-1, 1) * style.rotation
        rise = rng.uniform(-1, 1) * style.rise * height
        specs.append(GlyphSpec(char, font, size, fill, effect, rotation, rise, width))
    return specs


def _fit(line: Image.Image, height: int, max_width: float) -> Image.Image:
    """Shrink the text line to fit the image, if it does not."""
    fit = min(1.0, 0.95 * height / line.height, max_width / line.width)
    if fit >= 1.0:
        return line
    size = (max(1, round(line.width * fit)), max(1, round(line.height * fit)))
    return line.resize(size, Image.Resampling.BILINEAR)


def _compose(style: Style, line: Image.Image, height: int, light: bool, ink_colour: Colour, rng):
    """-> the RGB picture, and the mask of what lies in front of the background (L)."""
    margin = rng.uniform(0.05, 0.3) * height
    line = _fit(line, height, style.aspect[1] * height - 2 * margin)
    spare = rng.uniform(0.0, 0.6) * height
    low, high = style.aspect[0] * height, style.aspect[1] * height
    width = round(min(max(line.width + 2 * margin + spare, low), high))
    kind = style.backgrounds[int(rng.integers(0, len(style.backgrounds)))]
    canvas = Image.fromarray(background(kind, width, height, light, rng))
    if rng.random() < style.grid:  # between the background's colour and the text's
        share = rng.uniform(0.25, 0.6)
        paper = np.asarray(canvas)[0, 0]
        shade = _blend(paper, ink_colour, share)
        draw_grid(canvas, shade, rng)
    front = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    x = rng.uniform(0, max(0.0, width - line.width))
    y = (height - line.height) / 2 + rng.uniform(-0.35, 0.35) * (height - line.height)
    front.alpha_composite(line, (round(x), max(0, round(y))))
    for _ in range(int(rng.integers(style.lines[0], style.lines[1] + 1))):
        same = rng.random() < style.lines_in_text_colour
        fill = ink_colour if same else colour(rng, light=not light)
        kind = style.curves[int(rng.integers(0, len(style.curves)))]
        thickness = max(1, round(rng.uniform(*style.line_width) * height / LINE_HEIGHT))
        behind = rng.random() < 0.3
        target = canvas if behind else front
        draw_curve(target, kind, (*fill, 255) if not behind else fill, thickness, rng)
    if style.warps:
        kind = style.warps[int(rng.integers(0, len(style.warps)))]
        front = warp(front, kind, rng.uniform(*style.warp_strength), rng)
    canvas.paste(front, (0, 0), front)
    ink = front.getchannel("A")
    if style.dots[1] > 0:
        pixels = np.array(canvas)
        dots = [ink_colour, colour(rng, light=not light), colour(rng, light=light)]
        draw_dots(pixels, rng.uniform(*style.dots), dots, rng)
        canvas = Image.fromarray(pixels)
    if rng.random() < style.border:
        ImageDraw.Draw(canvas).rectangle((0, 0, width - 1, height - 1), outline=ink_colour)
    return canvas, ink


def _blend(paper: np.ndarray, ink: Colour, share: float) -> Colour:
    red, green, blue = (
        round(int(p) + share * (i - int(p))) for p, i in zip(paper, ink, strict=True)
    )
    return (red, green, blue)


def warp(image: Image.Image, kind: str, strength: float, rng) -> Image.Image:
    """Bend the image by a sine wave or an elastic field: a mesh of quads, each mapped from a
    displaced quad of the source (Pillow's MESH transform, bilinear)."""
    width, height = image.size
    amplitude = strength * height
    cell = max(4, height // 4) if kind == "sine" else max(6, height // 2)
    xs = np.unique(np.linspace(0, width, max(2, width // cell) + 1).round().astype(int))
    ys = np.unique(np.linspace(0, height, 3).round().astype(int))
    grid_x, grid_y = np.meshgrid(xs, ys)  # (rows, columns) of mesh nodes
    if kind == "sine":
        period = width / rng.uniform(0.7, 2.5)
        phase = rng.uniform(0, 2 * math.pi)
        shift_y = amplitude * np.sin(2 * math.pi * grid_x / period + phase)
        shift_x = 0.3 * amplitude * np.sin(2 * math.pi * grid_y / height + phase)
    else:
        shift_x, shift_y = rng.normal(0, amplitude / 2, (2, *grid_x.shape))
    source_x, source_y = grid_x + shift_x, grid_y + shift_y
    mesh = []
    for row in range(len(ys) - 1):
        for col in range(len(xs) - 1):
            box = (int(xs[col]), int(ys[row]), int(xs[col + 1]), int(ys[row + 1]))
            corners = [(row, col), (row + 1, col), (row + 1, col + 1), (row, col + 1)]
            quad = [float(v) for r, c in corners for v in (source_x[r, c], source_y[r, c])]
            mesh.append((box, quad))
    return image.transform(image.size, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)


def _deliver(style: Style, image: Image.Image, ink: Image.Image, light: bool, rng) -> Image.Image:
    """The file's form: greyscale, JPEG-compressed, or transparent where there is no text."""
    if rng.random() < style.grey:
        image = image.convert("L")
    if rng.random() < style.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(*style.jpeg_quality)))
        decoded = Image.open(io.BytesIO(buffer.getvalue()))
        decoded.load()
        return decoded
    if light and rng.random() < style.transparent:
        return _transparent(image.convert("RGB"), ink, rng)
    return image


def _transparent(image: Image.Image, ink: Image.Image, rng) -> Image.Image:
    """Either the background is see-through (only the text and curves are opaque), or the
    whole picture sits in transparent margins; under transparent pixels lies black, as in
    many PNGs, so a reader that ignores alpha sees a black box."""
    if rng.random() < 0.5:
        rgba = image.convert("RGBA")
        rgba.putalpha(ink)
        return Image.composite(rgba, Image.new("RGBA", image.size, (0, 0, 0, 0)), ink)
    pad_y = int(rng.integers(1, max(2, image.height // 6)))
    pad_x = round(pad_y * image.width / image.height)  # the aspect ratio stays the style's
    framed = Image.new("RGBA", (image.width + 2 * pad_x, image.height + 2 * pad_y), (0, 0, 0, 0))
    framed.paste(image, (pad_x, pad_y))
    return framed
