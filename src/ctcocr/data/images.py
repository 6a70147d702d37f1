"""Image loading and preprocessing, shared by training and inference.

Every image the model ever sees, in training, evaluation, prediction or export parity checks,
goes through `load_image` and then `preprocess`. There is no second path to drift apart.
`preprocess` is two named steps: `flatten` (the frames of an animation, the colour filter:
what the picture is) and `to_model_input` (mode, size, scale: what the network takes).

>>> spec = PreprocessConfig(width=128, height=64, channels=1)
>>> preprocess(load_image("captcha.png"), spec).shape
(1, 64, 128)
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ctcocr.core.colours import parse_colour
from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import ImageError, ImageTooLargeError, NotAnImageError
from ctcocr.data.colour_filter import keep_colour
from ctcocr.data.frames import animation_frames, check_frames, is_animation, merge_frames

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


def open_readable(
    sources: Sequence[ImageInput],
) -> tuple[list[Image.Image], dict[int, ImageError]]:
    """Open each source -> (the images that opened, in order; {index: its ImageError} for the
    others), so that one unreadable file does not stop the rest."""
    images: list[Image.Image] = []
    failed: dict[int, ImageError] = {}
    for index, source in enumerate(sources):
        try:
            images.append(load_image(source))
        except ImageError as error:
            failed[index] = error
    return images, failed


def _open(stream: io.BytesIO, label: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns from ~89M pixels (ctcocr refuses far fewer itself, just below) and
            # about damaged metadata (EXIF, ICC) it then skips: the pixels load or raise.
            # (The filter is process-wide while it lasts; only Pillow runs inside it.)
            warnings.simplefilter("ignore")
            image = Image.open(stream)  # reads the header only: the size is known, no pixels yet
            if image.width * image.height > MAX_PIXELS:
                raise _too_large(label, f"{image.width}x{image.height} pixels")
            image.load()  # force a full read so truncated files fail here, not later
            if is_animation(image):
                check_frames(image, label)  # the later frames too, whatever --frames says
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit (~179M) struck first
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(label, f"{int(found[1]):,} pixels" if found else "the image") from None
    except UnidentifiedImageError as exc:
        if stream.getvalue()[:6] in (b"GIF87a", b"GIF89a"):  # Pillow finds no image to open
            raise ImageError(
                f"{label}: a GIF file without a frame to read (empty, or cut short before "
                "its first image): replace the file "
                "(training can skip such files with --skip-bad)"
            ) from exc
        raise NotAnImageError(
            f"{label}: not a readable image, in no format Pillow knows ({exc}): use a PNG, "
            "JPEG, BMP, GIF, WebP or TIFF file (training can skip such files with --skip-bad)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"{label}: not a readable image ({exc}): replace or remove the file "
            "(training can skip such files with --skip-bad)"
        ) from exc
    return image


def _too_large(label: str, size: str) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{label}: {size} is more than ctcocr opens ({MAX_PIXELS:,} pixels): scale the image down"
    )


# Float pixels a little past 1.0 (rounding after normalising) still count as [0, 1].
_FLOAT_SLACK = 1e-3


def _array_to_image(array: np.ndarray) -> Image.Image:
    """uint8 0-255 as is; booleans and other integers in 0-255; floats in [0, 1], scaled."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"array of shape {array.shape} is not an image: use (H, W), (H, W, 3) or (H, W, 4)"
        )
    if array.size == 0:
        raise ImageError(f"array of shape {array.shape} is empty: pass an image with pixels")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())  # NaN anywhere makes both NaN
        if not (low >= -_FLOAT_SLACK and high <= 1.0 + _FLOAT_SLACK):
            raise _bad_pixels(array, f"float pixels from {low:g} to {high:g}")
        array = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise _bad_pixels(array, f"{array.dtype} pixels from {low} to {high}")
        array = array.astype(np.uint8)
    else:
        raise _bad_pixels(array, f"{array.dtype} pixels")
    return Image.fromarray(np.ascontiguousarray(array))


def _bad_pixels(array: np.ndarray, found: str) -> ImageError:
    return ImageError(
        f"array of shape {array.shape} holds {found}: pass uint8 values 0-255, or floats in [0, 1]"
    )


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


def flatten(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    """The one picture the model reads from an opened image: its frames as `config.frames`
    says (an animation's first frame, or all of them merged), then, with `config.keep_color`,
    only the ink of that colour (dark on white). Otherwise the image itself.

    Run once per image, before anything changes its pixels: augmentation goes after it."""
    if config.frames == "merge" and is_animation(image):
        frames, backgrounds = [], []
        for frame in animation_frames(image):
            rgb = to_mode(frame, 3)  # transparency over white, as a single image is read
            frames.append(np.asarray(rgb))
            backgrounds.append(border_colour(rgb))
        image = Image.fromarray(merge_frames(frames, backgrounds), "RGB")
    if config.keep_color is not None:
        rgb = to_mode(image, 3)
        paper = border_colour(rgb)  # the background guess that padding uses too
        colour, tolerance = parse_colour(config.keep_color), config.color_tolerance
        ink = keep_colour(np.asarray(rgb), colour, tolerance, paper)
        image = Image.fromarray(ink, "L")
    return image


def to_model_input(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """A flattened image -> float32 array of shape (C, H, W), scaled to [-1, 1]."""
    pil = to_mode(image, config.channels)
    pixels = np.asarray(resize(pil, config), dtype=np.float32)
    # (H, W) -> (1, H, W); (H, W, C) -> (C, H, W)
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return pixels * (2.0 / 255.0) - 1.0


def preprocess(image: ImageInput, config: PreprocessConfig) -> np.ndarray:
    """Any image input -> float32 array of shape (C, H, W), scaled to [-1, 1]: opened, then
    flattened (frames, colour filter), then converted, resized and scaled."""
    return to_model_input(flatten(load_image(image), config), config)


def preprocess_batch(images: list[ImageInput], config: PreprocessConfig) -> np.ndarray:
    """A list of image inputs -> float32 array (B, C, H, W)."""
    if not images:
        return np.zeros((0, config.channels, config.height, config.width), np.float32)
    return np.stack([preprocess(image, config) for image in images])
