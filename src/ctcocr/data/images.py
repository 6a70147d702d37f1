"""Image loading and preprocessing, shared by training and inference.

Every image the model ever sees, in training, evaluation, prediction or export parity checks,
goes through `load_image` and then `preprocess`. There is no second path to drift apart.

>>> spec = PreprocessConfig(width=128, height=64, channels=1)
>>> preprocess(load_image("captcha.png"), spec).shape
(1, 64, 128)
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import ImageError, ImageTooLargeError, NotAnImageError

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray
# Text lines need far fewer; a small compressed file that claims more is a decompression bomb.
MAX_PIXELS = 25_000_000
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def load_image(source: ImageInput, name: str | None = None) -> Image.Image:
    """Open `source` (a path, encoded bytes, a PIL image or an array) into a PIL image.

    Raises ImageError, naming the file, when it is missing, truncated or not an image.
    """
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _array_to_image(source)
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or f"<{len(source)} bytes>"
        return _open(io.BytesIO(bytes(source)), label)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{path}: no such image file: check the path")
        with path.open("rb") as handle:
            return _open(io.BytesIO(handle.read()), str(path))
    raise ImageError(
        f"cannot read an image from a {type(source).__name__}: "
        "pass a path, bytes, a PIL image or a numpy array"
    )


def _open(stream: io.BytesIO, label: str) -> Image.Image:
    try:
        image = Image.open(stream)  # reads the header only: the size is known, no pixels yet
        if image.width * image.height > MAX_PIXELS:
            raise ImageTooLargeError(
                f"{label}: {image.width}x{image.height} pixels is more than ctcocr opens "
                f"({MAX_PIXELS:,}): scale the image down"
            )
        image.load()  # force a full read so truncated files fail here, not later
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise NotAnImageError(
            f"{label}: not a readable image, in no format Pillow knows ({exc}): use a PNG, "
            "JPEG, BMP, GIF, WebP or TIFF file (training can skip such files with --skip-bad)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"{label}: not a readable image ({exc}): replace or remove the file "
            "(training can skip such files with --skip-bad)"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: image has too many pixels ({exc})") from exc
    return image


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"array of shape {array.shape} is not an image: use (H, W), (H, W, 3) or (H, W, 4)"
        )
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(array.max()) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to "L" or "RGB"; transparency is composited onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L" if channels == 1 else "RGB")


def resize(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    size = (config.width, config.height)
    if image.size == size:
        return image
    if config.resize == "stretch":
        return image.resize(size, Image.Resampling.BILINEAR)
    scale = min(config.width / image.width, config.height / image.height)
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    scaled = image.resize(inner, Image.Resampling.BILINEAR)
    canvas = Image.new(image.mode, size, border_colour(image))
    canvas.paste(scaled, (0, 0))
    return canvas


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """The median colour of the image's outermost pixels: a background guess for padding."""
    pixels = np.asarray(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median = np.median(border, axis=0).astype(np.uint8)
    return int(median) if median.ndim == 0 else tuple(int(v) for v in median)


def preprocess(image: ImageInput, config: PreprocessConfig) -> np.ndarray:
    """Any image input -> float32 array of shape (C, H, W), scaled to [-1, 1]."""
    pil = to_mode(load_image(image), config.channels)
    pixels = np.asarray(resize(pil, config), dtype=np.float32)
    # (H, W) -> (1, H, W); (H, W, C) -> (C, H, W)
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return pixels * (2.0 / 255.0) - 1.0


def preprocess_batch(images: list[ImageInput], config: PreprocessConfig) -> np.ndarray:
    """A list of image inputs -> float32 array (B, C, H, W)."""
    if not images:
        return np.zeros((0, config.channels, config.height, config.width), np.float32)
    return np.stack([preprocess(image, config) for image in images])
