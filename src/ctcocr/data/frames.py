"""Animated images (GIF, APNG, WebP): checking their frames, and merging them into one picture.

Some CAPTCHAs show their characters over several frames, a few at a time. `--frames merge`
reads such a file as one picture holding every frame's ink (`merge_frames`); `first` reads the
first frame, as every model before it did. Other files with several images (TIFF pages, the
photo pairs of MPO) are not animations: they are always read by their first image.

>>> merged = merge_frames([frame_a, frame_b], [(255, 255, 255), (255, 255, 255)])
>>> merged.shape
(40, 120, 3)
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from ctcocr.core.errors import ImageError, ImageTooLargeError

ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP"})
# Over all frames: a CAPTCHA of 200x60 may have 2,000 frames; a bigger animation is refused.
MAX_FRAME_PIXELS = 25_000_000
# What Pillow raises on a damaged frame (a truncated block, a bad index, a short read).
_FRAME_ERRORS = (OSError, EOFError, SyntaxError, ValueError, IndexError, struct.error)


def is_animation(image: Image.Image) -> bool:
    """Whether `image` is an animation whose frames `--frames merge` combines."""
    return image.format in ANIMATED_FORMATS and bool(getattr(image, "is_animated", False))


def animation_frames(image: Image.Image, label: str = "an animated image") -> Iterator[Image.Image]:
    """Each frame of `image` in turn, as Pillow composes it (earlier frames under later ones,
    as the file's disposal says): the image itself, seeked to the frame, so convert or copy it
    before the next one. Afterwards the image is back on its first frame. ImageError naming
    `label` when a frame is damaged; ImageTooLargeError beyond MAX_FRAME_PIXELS in all."""
    budget = MAX_FRAME_PIXELS
    index = 0
    try:
        while True:
            try:
                image.seek(index)
            except EOFError:
                return
            image.load()
            budget -= image.width * image.height
            if budget < 0:
                raise ImageTooLargeError(
                    f"{label}: {index + 1} or more frames of {image.width}x{image.height} are "
                    f"more than ctcocr merges ({MAX_FRAME_PIXELS:,} pixels in all): read its "
                    "first frame (a model trained with --frames first), or use fewer frames"
                )
            yield image
            index += 1
    except ImageError:  # an ImageError is a ValueError too: the refusal above, as it is
        raise
    except _FRAME_ERRORS as exc:
        raise ImageError(
            f"{label}: frame {index + 1} of the animation cannot be read ({exc}): replace the "
            "file (training can skip such files with --skip-bad)"
        ) from exc
    finally:
        with contextlib.suppress(*_FRAME_ERRORS):  # a damaged frame is what the caller hears of
            image.seek(0)


def check_frames(image: Image.Image, label: str) -> None:
    """Decode every frame of an animation, so that a damaged one, or frames past the pixel
    limit, fail when the file is opened, with its name: not later, in a batch or a loader
    worker, where one file would stop the others (whatever --frames says: a text-line
    animation never holds that many pixels)."""
    for _ in animation_frames(image, label):
        pass


def merge_frames(
    frames: Sequence[np.ndarray], backgrounds: Sequence[int | tuple[int, ...]]
) -> np.ndarray:
    """(H, W, 3) uint8 frames, each with its background colour -> one (H, W, 3) picture that
    takes each pixel from the frame where it lies farthest from that frame's background.

    Why not the darkest pixel over the frames: that reads dark text on a light background
    only. The farthest-from-background rule reads light text on dark, and coloured text whose
    luminance is close to the background's (yellow on white), the same way; a static
    background is the same in every frame, so it stays as it is.
    """
    if not frames:
        raise ImageError("an animation without frames: replace the file")
    stack = np.stack([frame.astype(np.float32) for frame in frames])  # (N, H, W, 3)
    paper = np.stack([np.broadcast_to(np.asarray(b, np.float32), (3,)) for b in backgrounds])
    paper = paper[:, None, None, :]  # (N, 1, 1, 3)
    distance = np.linalg.norm(stack - paper, axis=3)  # (N, H, W)
    chosen = distance.argmax(axis=0)  # (H, W): ties (a static background) go to frame 0
    rows, columns = np.indices(chosen.shape)
    return stack[chosen, rows, columns].astype(np.uint8)  # (H, W, 3)
