"""Drawing primitives of synthetic CAPTCHAs: colours, backgrounds and interference.

Numpy and Pillow only. Every function takes the numpy Generator it draws its randomness from,
so a picture depends only on the generator's seed.

>>> rng = np.random.default_rng(0)
>>> background("gradient", 120, 40, light=True, rng=rng).shape
(40, 120, 3)
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[int, int, int]
BACKGROUNDS = ("plain", "gradient", "noise", "texture", "blocks")
CURVES = ("line", "arc", "bezier", "wave")
_LUMA = np.array([0.299, 0.587, 0.114])


def luminance(colour: Colour) -> float:
    return float(_LUMA @ np.asarray(colour, dtype=np.float64))


def colour(rng: np.random.Generator, light: bool, saturated: bool = True) -> Colour:
    """A random colour on the light (luminance >= 175) or dark (<= 100) side.

    Light colours are backgrounds and dark ones text, or the other way round for inverted
    CAPTCHAs; the gap between the two sides keeps every text readable."""
    for _ in range(20):
        if saturated:
            rgb = rng.integers(150, 256, 3) if light else rng.integers(0, 170, 3)
        else:
            grey = int(rng.integers(175, 256) if light else rng.integers(0, 101))
            rgb = np.clip(grey + rng.integers(-12, 13, 3), 0, 255)
        candidate: Colour = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        level = luminance(candidate)
        if (light and level >= 175) or (not light and level <= 100):
            return candidate
    return (235, 235, 235) if light else (30, 30, 30)


def background(kind: str, width: int, height: int, light: bool, rng: np.random.Generator):
    """(height, width, 3) uint8: plain, gradient, noise, texture (smooth blotches) or blocks
    (rectangles of several colours)."""
    base = np.array(colour(rng, light, saturated=rng.random() < 0.6), dtype=np.float32)
    if light and rng.random() < 0.25:  # white paper is the commonest of all
        base[:] = 255
    if kind == "plain":
        pixels = np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    elif kind == "gradient":
        other = np.array(colour(rng, light), dtype=np.float32)
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs * math.cos(angle) + ys * math.sin(angle)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        pixels = base + t[..., None] * (other - base)
    elif kind == "noise":
        sigma = rng.uniform(6, 30)
        grain = rng.normal(0, sigma, (height, width, 1 if rng.random() < 0.5 else 3))
        pixels = base + grain.astype(np.float32)
    elif kind == "texture":
        cells = rng.uniform(0.6, 1.0, (max(2, height // 6), max(2, width // 6), 3)) * 255
        blotches = Image.fromarray(cells.astype(np.uint8)).resize(
            (width, height), Image.Resampling.BICUBIC
        )
        mix = np.asarray(blotches, dtype=np.float32)
        pixels = base * 0.55 + mix * 0.45 if light else base * 0.7 + (255 - mix) * 0.15
    else:
        pixels = _blocks(base, width, height, light, rng)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _blocks(base: np.ndarray, width: int, height: int, light: bool, rng: np.random.Generator):
    pixels = np.broadcast_to(base, (height, width, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(width // 8 + 1, width // 2 + 2))
        y1 = y0 + int(rng.integers(height // 4 + 1, height + 1))
        pixels[y0:y1, x0:x1] = colour(rng, light)
    return pixels


def curve_points(kind: str, width: int, height: int, rng: np.random.Generator):
    """Points of one interference curve crossing most of the image."""
    x0, x1 = rng.uniform(-0.1, 0.3) * width, rng.uniform(0.7, 1.1) * width
    y0, y1 = rng.uniform(0.1, 0.9, 2) * height
    if kind == "line":
        return [(x0, y0), (x1, y1)]
    t = np.linspace(0.0, 1.0, 24)
    if kind == "bezier":
        ys = rng.uniform(-0.3, 1.3, 2) * height
        xs = np.array([x0, x0 + (x1 - x0) / 3, x0 + 2 * (x1 - x0) / 3, x1])
        ctrl_y = np.array([y0, ys[0], ys[1], y1])
        basis = np.stack([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3])
        return list(zip(xs @ basis, ctrl_y @ basis, strict=True))
    if kind == "wave":
        periods = rng.uniform(0.5, 2.5)
        amplitude = rng.uniform(0.1, 0.35) * height
        xs = x0 + t * (x1 - x0)
        ys = y0 + amplitude * np.sin(2 * math.pi * periods * t + rng.uniform(0, 2 * math.pi))
        return list(zip(xs, ys, strict=True))
    # arc: a slice of an ellipse wider than the image
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(-1.0, 2.0) * height
    rx, ry = rng.uniform(0.4, 1.0) * width, rng.uniform(0.3, 1.5) * height
    start = rng.uniform(0, 2 * math.pi)
    angles = start + t * rng.uniform(0.6, 2.0)
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles), strict=True))


def draw_curve(
    image: Image.Image, kind: str, fill: tuple[int, ...], width: int, rng: np.random.Generator
) -> None:
    points = curve_points(kind, image.width, image.height, rng)
    ImageDraw.Draw(image).line(points, fill=fill, width=width, joint="curve")


def draw_dots(pixels: np.ndarray, share: float, colours: list[Colour], rng: np.random.Generator):
    """Set about `share` of the pixels to dots of the given colours (some 2x2), in place."""
    height, width = pixels.shape[:2]
    count = int(share * height * width)
    if count == 0:
        return
    ys, xs = rng.integers(0, height, count), rng.integers(0, width, count)
    picks = np.asarray(colours, dtype=np.uint8)[rng.integers(0, len(colours), count)]
    pixels[ys, xs] = picks
    big = rng.random(count) < 0.3
    pixels[np.minimum(ys[big] + 1, height - 1), np.minimum(xs[big] + 1, width - 1)] = picks[big]
    pixels[ys[big], np.minimum(xs[big] + 1, width - 1)] = picks[big]


def draw_grid(image: Image.Image, fill: Colour, rng: np.random.Generator) -> None:
    """Thin horizontal and vertical lines at a regular step, perhaps slanted."""
    step = int(rng.integers(max(5, image.height // 4), max(7, image.height // 2)))
    slant = rng.uniform(-0.3, 0.3) * image.height
    draw = ImageDraw.Draw(image)
    for x in range(int(rng.integers(0, step)) - step, image.width + step, step):
        draw.line([(x, 0), (x + slant, image.height)], fill=fill, width=1)
    for y in range(int(rng.integers(0, step)), image.height, step):
        draw.line([(0, y), (image.width, y)], fill=fill, width=1)
