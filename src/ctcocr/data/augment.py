"""Augmentation for text-line images: small geometric and photometric changes, labels unchanged.

Applied to the loaded image in the loader workers, before `images.preprocess`, so that the
model sees exactly the same preprocessing at training and at inference time. Pillow and numpy
only. Every change is small enough that the text stays readable: a rotation or shear of a few
degrees, corners moved by a few percent, a slight blur, faint noise, a thin line across.

>>> rng = np.random.default_rng(0)
>>> augment(load_image("2b827.png"), AugmentConfig(), rng).size   # same size as the input
(200, 50)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ctcocr.core.errors import ConfigError
from ctcocr.data.images import border_colour, to_mode

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges (the largest change) and probabilities of each augmentation."""

    rotate_degrees: float = 3.0
    shear_degrees: float = 8.0
    scale: float = 0.06  # zoom in or out by up to this share
    shift: float = 0.04  # move by up to this share of the width / height
    perspective: float = 0.04  # move each corner by up to this share of the size
    perspective_p: float = 0.3
    blur_radius: float = 0.8  # Gaussian radius, in pixels at 32 pixels of height
    blur_p: float = 0.3
    noise_sigma: float = 8.0  # on the 0-255 scale
    noise_p: float = 0.3
    contrast: float = 0.3  # scale the contrast by 1 +- this
    brightness: float = 25.0  # shift every pixel by up to this (0-255)
    colour: float = 0.15  # per-channel gain 1 +- this (RGB only)
    photometric_p: float = 0.6
    lines_p: float = 0.25
    max_lines: int = 2

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) < 0:
                raise ConfigError(f"augmentation {item.name}={getattr(self, item.name)}: use >= 0")

    def scaled(self, strength: float) -> AugmentConfig:
        """Every range and probability times `strength` (probabilities capped at 1)."""
        if strength < 0:
            raise ConfigError(f"augment strength {strength}: use 0 (off) or more")
        changes: dict[str, float | int] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "max_lines":
                changes[item.name] = value if strength > 0 else 0
            elif item.name.endswith("_p"):
                changes[item.name] = min(1.0, value * strength)
            else:
                changes[item.name] = value * strength
        return replace(self, **changes)  # type: ignore[arg-type]


def augment(image: Image.Image, config: AugmentConfig, rng: np.random.Generator) -> Image.Image:
    """One random variant of `image` (converted to L or RGB), of the same size and mode."""
    channels = 1 if image.mode in GREY_MODES else 3
    image = to_mode(image, channels)
    # One resampling for the whole geometry: output pixel -> perspective -> affine -> input.
    warp = _affine(image.size, config, rng)
    if rng.random() < config.perspective_p:
        warp = warp @ _perspective(image.size, config.perspective, rng)
    warp = warp / warp[2, 2]
    image = image.transform(
        image.size,
        Image.Transform.PERSPECTIVE,
        tuple(warp.flatten()[:8]),
        Image.Resampling.BILINEAR,
        fillcolor=border_colour(image),
    )
    if rng.random() < config.lines_p:
        image = _lines(image, config.max_lines, rng)
    if rng.random() < config.blur_p:
        radius = rng.uniform(0.2, 1.0) * config.blur_radius * image.height / 32
        image = image.filter(ImageFilter.GaussianBlur(radius))
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < config.photometric_p:
        pixels = _photometric(pixels, config, rng)
    if rng.random() < config.noise_p:
        sigma = rng.uniform(0.3, 1.0) * config.noise_sigma
        pixels = pixels + sigma * rng.standard_normal(pixels.shape, dtype=np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), image.mode)


def shrink(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` scaled down (aspect kept) to fit within width x height; smaller ones unchanged.

    Augmenting a 1600x400 photo costs 30x more than augmenting it at twice the model's input
    size, and preprocess shrinks it afterwards anyway."""
    scale = min(width / image.width, height / image.height)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def _affine(size: tuple[int, int], config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """3x3 map from output to input pixels: rotate, shear, scale and shift about the centre."""
    width, height = size
    angle = math.radians(rng.uniform(-1, 1) * config.rotate_degrees)
    shear = math.tan(math.radians(rng.uniform(-1, 1) * config.shear_degrees))
    zoom = 1.0 + rng.uniform(-1, 1) * config.scale
    shift = rng.uniform(-1, 1, 2) * config.shift * np.array([width, height])
    # Forward (input -> output): x' = zoom * R(angle) @ Shear @ (x - c) + c + shift.
    # Pillow samples the input for each output pixel, so it needs the inverse.
    cos, sin = math.cos(angle), math.sin(angle)
    forward = zoom * np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array([width / 2, height / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = inverse
    matrix[:2, 2] = centre - inverse @ (centre + shift)
    return matrix


def _perspective(size: tuple[int, int], amount: float, rng: np.random.Generator) -> np.ndarray:
    """3x3 homography from output to input: each corner moved by up to `amount` of the size."""
    width, height = size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    moved = corners + rng.uniform(-1, 1, corners.shape) * amount * np.array([width, height])
    # Solve the 8 coefficients that map each output corner (moved) to its input corner.
    rows, targets = [], []
    for (x, y), (u, v) in zip(moved, corners, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        targets += [u, v]
    coefficients = np.linalg.solve(np.array(rows), np.array(targets))
    return np.append(coefficients, 1.0).reshape(3, 3)


def _lines(image: Image.Image, most: int, rng: np.random.Generator) -> Image.Image:
    """Thin random strokes across the image, in the colour of its darkest twentieth."""
    width, height = image.size
    pixels = np.asarray(image).reshape(-1, 1 if image.mode == "L" else 3)
    dark = np.percentile(pixels[:: max(1, len(pixels) // 2000)], 5, axis=0)
    colour = tuple(int(v) for v in dark)
    image = image.copy()
    draw = ImageDraw.Draw(image)
    thickness = max(1, round(height / 40))
    for _ in range(int(rng.integers(1, max(1, most) + 1))):
        start = (rng.uniform(0, width * 0.3), rng.uniform(0, height))
        end = (rng.uniform(width * 0.7, width), rng.uniform(0, height))
        draw.line([start, end], fill=colour[0] if image.mode == "L" else colour, width=thickness)
    return image


def _photometric(pixels: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Contrast about the mean, a brightness shift, and (RGB) a gain per channel."""
    mean = pixels.mean()
    pixels = (pixels - mean) * (1.0 + rng.uniform(-1, 1) * config.contrast) + mean
    pixels = pixels + rng.uniform(-1, 1) * config.brightness
    if pixels.ndim == 3:
        pixels = pixels * (1.0 + rng.uniform(-1, 1, 3) * config.colour)
    return pixels


def preview(
    images: Sequence[Image.Image],
    labels: Sequence[str],
    config: AugmentConfig,
    variants: int = 5,
    seed: int = 0,
) -> Image.Image:
    """A grid: one row per image, its label, the original, then `variants` augmented copies."""
    cell_w = 200  # every image is scaled to this width, keeping its aspect ratio
    pad, label_w = 6, 110
    rows = []
    for number, image in enumerate(images):
        rng = np.random.default_rng((seed, number))
        copies = [to_mode(image, 1 if image.mode in GREY_MODES else 3)]
        copies += [augment(image, config, rng) for _ in range(variants)]
        height = max(1, round(image.height * cell_w / max(1, image.width)))
        rows.append([c.convert("RGB").resize((cell_w, height)) for c in copies])
    width = label_w + (variants + 1) * (cell_w + pad) + pad
    canvas = Image.new("RGB", (width, sum(r[0].height + pad for r in rows) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    top = pad
    for label, row in zip(labels, rows, strict=True):
        try:
            draw.text((pad, top), label, fill=(0, 0, 0))
        except UnicodeEncodeError:  # the default bitmap font has no CJK glyphs
            draw.text((pad, top), label.encode("ascii", "replace").decode(), fill=(0, 0, 0))
        for column, cell in enumerate(row):
            canvas.paste(cell, (label_w + column * (cell_w + pad), top))
        top += row[0].height + pad
    return canvas
