"""The text of a synthetic CAPTCHA: one RGBA tile per character, set in a line.

Each character is drawn in its own tile so that it can have its own font, size, colour,
rotation, width and effect (solid, hollow, outlined, shadowed, dotted, smudged), then the tiles are
set on a shared baseline with a gap that may be negative (the characters overlap).

>>> font = open_font(available_fonts()[0].path, 37)
>>> tile = glyph_tile(GlyphSpec("A", font, 30.0, (20, 20, 20), "solid", 10.0, 0.0), rng)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ctcocr.data.draw import Colour, luminance

GLYPH_EFFECTS = ("solid", "hollow", "outlined", "shadow", "dotted", "smudge")


@dataclass(frozen=True)
class GlyphSpec:
    """How one character is drawn."""

    char: str
    font: ImageFont.FreeTypeFont  # opened at font_size_for(size), scaled down to `size`
    size: float  # pixels
    colour: Colour
    effect: str
    rotation: float  # degrees, counter-clockwise
    rise: float  # pixels up from the shared baseline
    width: float = 1.0  # horizontal scale of the drawn glyph (< 1: condensed, > 1: extended)


def _masks(char: str, font: ImageFont.FreeTypeFont, stroke: int) -> tuple[np.ndarray, np.ndarray]:
    """The character with and without a `stroke`-pixel outline, on one canvas of height
    ascent + descent (plus padding) so that every character shares the baseline; 0..1 floats."""
    ascent, descent = font.getmetrics()
    left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
    # as much room above as below, so that the tile's centre stays on the shared line
    pad = 2 + stroke + int(max(0, -top, bottom - ascent - descent))
    width = int(max(right, font.getlength(char)) - min(left, 0)) + 2 * pad
    origin = (pad - min(left, 0), pad)
    masks = []
    for outline in (stroke, 0) if stroke else (0,):
        image = Image.new("L", (width, ascent + descent + 2 * pad), 0)
        ImageDraw.Draw(image).text(
            origin, char, font=font, fill=255, stroke_width=outline, stroke_fill=255
        )
        masks.append(np.asarray(image, dtype=np.float32) / 255.0)
    return masks[0], masks[-1]


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(np.roll(mask, dy, axis=0), dx, axis=1)


def _contrast_colour(colour: Colour) -> Colour:
    return (255, 255, 255) if luminance(colour) < 128 else (0, 0, 0)


def glyph_tile(spec: GlyphSpec, rng: np.random.Generator) -> Image.Image:
    """One character as an RGBA tile, effect applied and rotated (the tile grows to fit)."""
    size = spec.font.size
    stroke = max(1, round(size / 14))
    outlined = spec.effect in ("hollow", "outlined")
    mask, inner = _masks(spec.char, spec.font, stroke if outlined else 0)
    colour = np.array(spec.colour, dtype=np.float32)
    rgb = np.broadcast_to(colour, (*mask.shape, 3)).copy()
    alpha = mask
    if outlined:
        if spec.effect == "hollow":
            alpha = np.clip(mask - inner, 0, 1)
        else:  # fill in the colour, a ring of the contrasting colour around it
            rgb[:] = np.where(inner[..., None] > 0.5, colour, _contrast_colour(spec.colour))
    elif spec.effect == "shadow":
        offset = max(1, round(size / 12))
        shadow = _shift(mask, offset, offset)
        shade = colour * 0.4 + 160 * (luminance(spec.colour) < 128)
        rgb = np.where(mask[..., None] > 0.5, colour, shade)
        alpha = np.maximum(mask, shadow * 0.8)
    elif spec.effect == "dotted":
        ys, xs = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
        alpha = mask * (((ys + xs) % 2) == 0).astype(np.float32)  # every other pixel, a checker
    elif spec.effect == "smudge":  # ghost copies a pixel or two off: fuzzy, doubled edges
        for _ in range(int(rng.integers(2, 5))):
            dy, dx = rng.integers(-2, 3, 2)
            alpha = np.maximum(alpha, _shift(mask, int(dy), int(dx)) * rng.uniform(0.3, 0.7))
    tile = np.dstack([rgb, alpha[..., None] * 255]).astype(np.uint8)
    image = Image.fromarray(tile, "RGBA")
    scale = spec.size / size
    if scale < 0.98 or abs(spec.width - 1.0) > 0.02:
        shrunk = (
            max(1, round(image.width * scale * spec.width)),
            max(1, round(image.height * scale)),
        )
        image = image.resize(shrunk, Image.Resampling.BILINEAR, reducing_gap=None)
    if spec.rotation:
        image = image.rotate(spec.rotation, Image.Resampling.BILINEAR, expand=True)
    return image


def text_line(specs: list[GlyphSpec], gaps: list[float], rng: np.random.Generator) -> Image.Image:
    """The characters on one baseline, `gaps[i]` pixels after character i (negative: overlap),
    cropped to the ink with a 1-pixel margin."""
    tiles = [glyph_tile(spec, rng) for spec in specs]
    advances = [
        spec.font.getlength(spec.char) * spec.width * spec.size / spec.font.size for spec in specs
    ]
    height = max(t.height for t in tiles) + int(max(abs(s.rise) for s in specs)) * 2 + 4
    width = int(sum(t.width for t in tiles) + sum(abs(g) for g in gaps)) + 8
    line = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    x = 4.0
    for tile, spec, advance, gap in zip(tiles, specs, advances, gaps, strict=True):
        centre_x, centre_y = x + advance / 2, height / 2 - spec.rise
        left, top = round(centre_x - tile.width / 2), round(centre_y - tile.height / 2)
        line.alpha_composite(tile, (max(0, left), max(0, top)))
        x += advance + gap
    box = line.getchannel("A").getbbox()
    if box is None:
        return line
    left, top, right, bottom = box
    return line.crop((max(0, left - 1), max(0, top - 1), right + 1, bottom + 1))
