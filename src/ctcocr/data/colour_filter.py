"""The colour filter of `--keep-color`: the ink of one colour, everything else background.

For "type the red characters" CAPTCHAs: the decoys, curves and background in other colours are
removed before the model sees the picture, so it reads the characters of the one colour. The
result is dark ink on white, whatever the colour was, so a greyscale model reads it as well as
an RGB one.

>>> pixels = np.array([[[255, 255, 255], [250, 10, 10], [0, 0, 255]]], np.uint8)
>>> keep_colour(pixels, (255, 0, 0), 120.0, background=(255, 255, 255))
array([[255,   0, 255]], dtype=uint8)
"""

from __future__ import annotations

import numpy as np

from ctcocr.core.colours import RGB


def keep_colour(
    pixels: np.ndarray, colour: RGB, tolerance: float, background: int | tuple[int, ...]
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 greyscale, 0 = ink, 255 = background.

    Each pixel p is read as the background b blended with some ink: its share of ink `a` is how
    far p lies from b toward `colour` (projected on the line from b to the colour), and that
    ink, at full strength, is b + (p - b) / a. The pixel is `a` ink (full from within half the
    tolerance of the colour) when its ink lies within `tolerance` of the colour (Euclidean RGB;
    fully up to half of it, fading to nothing at it), and background otherwise.

    Why not only the distance from the colour: a stroke's anti-aliased edge is a blend of the
    colour and the paper, far from the colour, so thin strokes would fall apart; while the
    faint edges of other colours' strokes, near the paper, lie close to every colour's blend
    and would come through as ghosts. Extending each pixel to full strength keeps the first
    and drops the second. Where the paper itself is near the colour there is no blend to read,
    and a pixel is ink by its distance from the colour alone.
    """
    rgb = pixels.astype(np.float32)  # (H, W, 3)
    target = np.asarray(colour, np.float32)
    paper = np.broadcast_to(np.asarray(background, np.float32), (3,))  # a grey level or RGB
    towards = target - paper
    reach = float(np.linalg.norm(towards))
    if reach <= tolerance:
        ink = _within(np.linalg.norm(rgb - target, axis=2), tolerance)
    else:
        share = np.clip((rgb - paper) @ towards / reach**2, 0.0, 1.0)  # (H, W), 0 at the paper
        off_line = np.linalg.norm(rgb - paper - share[..., None] * towards, axis=2)
        # |full-strength ink - colour| = off_line / share; a pixel at the paper has no ink
        distance = np.where(share > 0, off_line / np.maximum(share, 1e-6), np.inf)
        full_from = 1.0 - 0.5 * tolerance / reach  # the share within tolerance / 2 of the colour
        ink = np.clip(share / full_from, 0.0, 1.0) * _within(distance, tolerance)
    return np.rint(255.0 * (1.0 - ink)).astype(np.uint8)


def _within(distance: np.ndarray, tolerance: float) -> np.ndarray:
    """1 up to half the tolerance, fading linearly to 0 at the tolerance."""
    return np.clip(2.0 - 2.0 * distance / np.float32(tolerance), 0.0, 1.0)
