"""Colours as the user writes them: a CSS colour name or `#rrggbb`, and the distance between two.

`--keep-color` stores the text the user gave (so config.json reads "red", not "#ff0000"); every
reader parses it here, so training, the torch runtime and the ONNX runtime agree on the RGB.

>>> parse_colour("red"), parse_colour("#1E90FF")
((255, 0, 0), (30, 144, 255))
"""

from __future__ import annotations

import math
import re

from ctcocr.core.errors import ConfigError

RGB = tuple[int, int, int]
# The largest RGB distance there is: black to white.
MAX_COLOUR_DISTANCE = 255 * math.sqrt(3)
_HEX = re.compile(r"#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})")
ACCEPTED_FORMS = "a CSS colour name (red, blue, green, orange, darkred, ...) or #rrggbb"


def parse_colour(value: str, what: str = "colour") -> RGB:
    """`value` -> (r, g, b). ConfigError naming `what`, the value and the accepted forms
    otherwise."""
    # Pillow's table is the CSS3 one (148 names); imported here so that core loads without it.
    from PIL import ImageColor

    text = value.strip().lower() if isinstance(value, str) else ""
    found = _HEX.fullmatch(text)
    if found:
        red, green, blue = (int(part, 16) for part in found.groups())
        return red, green, blue
    if text and text in ImageColor.colormap:
        red, green, blue = ImageColor.getrgb(text)[:3]
        return red, green, blue
    raise ConfigError(f"{what} {value!r} is not a colour: use {ACCEPTED_FORMS}")


def colour_distance(first: RGB, second: RGB) -> float:
    """Euclidean distance in RGB, 0 (the same) to 441.7 (black to white)."""
    return math.dist(first, second)
