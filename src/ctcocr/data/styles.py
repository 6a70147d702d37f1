"""Named styles of synthetic CAPTCHAs: what each draws, as a frozen dataclass per style.

Each named style is a subclass of `Style` (the drawing engine's knobs, `style_base.py`) whose
docstring says what it draws and whose defaults change a few knobs. `STYLES` is the registry
that `--style NAME` reads; each style's `weight` is its share of `mix`. Sizes are the style's
own (20 to 80 pixels high, 2:1 to 6:1), except `captcha`'s, which are `--size`; training
resizes every image to the model's input size.

>>> sorted(STYLES)[:3]
['arithmetic', 'captcha', 'colourful']
>>> style_named("warped").spacing
(-0.15, 0.02)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ctcocr.core.charset import DEFAULT_CHARSET, GENERAL_CHARSET
from ctcocr.core.errors import ConfigError
from ctcocr.data.style_base import Range, Style
from ctcocr.data.task_styles import AnimatedGif, KeepColour, TaskStyle
from ctcocr.data.texts import TextKind


@dataclass(frozen=True)
class CaptchaPackage(Style):
    """The `captcha` package's ImageCaptcha, exactly as before styles existed (the default):
    DroidSansMono characters in one random colour, warped and rotated, a noise arc and dots, at
    --size; text uniform over the charset (digits + upper case unless --charset says)."""

    name: str = "captcha"
    weight: float = 1.5
    text: TextKind = "uniform"

    def default_charset(self) -> str:
        return DEFAULT_CHARSET


@dataclass(frozen=True)
class Plain(Style):
    """Dark glyphs of one font, slightly rotated, on a plain or gradient light background; no
    noise. From 20 to 80 pixels high: the clean end of the range."""

    name: str = "plain"
    height: tuple[int, int] = (20, 80)
    aspect: Range = (2.0, 6.0)
    rotation: float = 5.0
    spacing: Range = (0.0, 0.3)
    backgrounds: tuple[str, ...] = ("plain", "gradient")
    grey: float = 0.3


@dataclass(frozen=True)
class MixedFonts(Style):
    """Each character in a font, size and rotation of its own, spaced apart, dark on white,
    often small and greyscale, sometimes drawn at low resolution."""

    name: str = "mixed-fonts"
    weight: float = 1.5
    font_per_char: bool = True
    bold: float = 0.5
    height: tuple[int, int] = (20, 50)
    aspect: Range = (2.5, 4.5)
    size_jitter: float = 0.2
    rotation: float = 12.0
    spacing: Range = (0.1, 0.6)
    rise: float = 0.08
    grey: float = 0.6
    low_resolution: float = 0.3
    blur: Range = (0.0, 0.6)


@dataclass(frozen=True)
class NoisyLines(Style):
    """Strike-through lines, arcs and Bézier curves 1 to 4 pixels thick, mostly in the text's
    colour, across close-set glyphs with smudged edges, on grey gradients; blurred."""

    name: str = "noisy-lines"
    weight: float = 1.5
    height: tuple[int, int] = (30, 64)
    aspect: Range = (3.0, 5.0)
    spacing: Range = (-0.1, 0.08)
    backgrounds: tuple[str, ...] = ("gradient", "plain", "noise")
    effects: tuple[str, ...] = ("solid", "smudge")
    lines: tuple[int, int] = (1, 3)
    line_width: Range = (1.0, 3.5)
    lines_in_text_colour: float = 0.8
    blur: Range = (0.0, 1.0)
    grey: float = 0.4


@dataclass(frozen=True)
class Condensed(Style):
    """Tall, narrow glyphs (squeezed to 55-85% of their font's width), close-set, often bold and
    smudged, with a strike-through curve or two in the text's colour, on light gradients.
    Not in `mix` (weight 0): the shipped general model was not trained on it, and 50 more
    minutes of its training with it did not read captcha_images_v2's narrow `m` better
    (docs/general-model.md#condensed-glyphs)."""

    name: str = "condensed"
    weight: float = 0.0
    bold: float = 0.6
    height: tuple[int, int] = (28, 64)
    aspect: Range = (2.5, 4.5)
    glyph_size: Range = (0.7, 0.95)
    glyph_width: Range = (0.55, 0.85)
    spacing: Range = (-0.08, 0.1)
    backgrounds: tuple[str, ...] = ("gradient", "plain", "noise")
    effects: tuple[str, ...] = ("solid", "smudge")
    lines: tuple[int, int] = (0, 2)
    line_width: Range = (1.0, 2.5)
    lines_in_text_colour: float = 0.8
    blur: Range = (0.0, 0.8)
    grey: float = 0.3


@dataclass(frozen=True)
class Colourful(Style):
    """A colour per character, often bold, on pastel backgrounds, with many thin curves in
    random colours (a few in the text's), sometimes a frame and JPEG compression."""

    name: str = "colourful"
    weight: float = 1.5
    bold: float = 0.6
    height: tuple[int, int] = (24, 48)
    aspect: Range = (2.0, 4.0)
    spacing: Range = (0.0, 0.3)
    colour_per_char: float = 0.9
    backgrounds: tuple[str, ...] = ("plain", "gradient", "texture")
    lines: tuple[int, int] = (2, 8)
    line_width: Range = (0.7, 1.4)
    lines_in_text_colour: float = 0.3
    border: float = 0.5
    jpeg: float = 0.6
    jpeg_quality: tuple[int, int] = (30, 85)


@dataclass(frozen=True)
class Dots(Style):
    """Speckle: dots in the text's colour and others over the whole image, solid or dotted
    glyphs, on plain or noisy backgrounds."""

    name: str = "dots"
    backgrounds: tuple[str, ...] = ("plain", "noise")
    effects: tuple[str, ...] = ("solid", "solid", "dotted")
    lines: tuple[int, int] = (0, 1)
    dots: Range = (0.02, 0.1)
    colour_per_char: float = 0.3


@dataclass(frozen=True)
class Hollow(Style):
    """Hollow, outlined and shadowed glyphs, large and often bold, on plain or gradient
    backgrounds, with a line or two."""

    name: str = "hollow"
    bold: float = 0.7
    glyph_size: Range = (0.7, 0.95)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "texture")
    effects: tuple[str, ...] = ("hollow", "outlined", "shadow")
    lines: tuple[int, int] = (0, 2)
    dark_text: float = 0.85


@dataclass(frozen=True)
class Warped(Style):
    """Tight, overlapping characters bent by sine waves or elastic warps, with a thin curve
    through them."""

    name: str = "warped"
    weight: float = 1.5
    rotation: float = 15.0
    spacing: Range = (-0.15, 0.02)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "noise")
    lines: tuple[int, int] = (0, 2)
    warps: tuple[str, ...] = ("sine", "elastic")
    warp_strength: Range = (0.04, 0.12)
    colour_per_char: float = 0.2


@dataclass(frozen=True)
class Textured(Style):
    """Textured and multi-coloured backgrounds (blotches, blocks of colour, grain, grids),
    text in contrasting colours, sometimes light on dark."""

    name: str = "textured"
    bold: float = 0.6
    backgrounds: tuple[str, ...] = ("texture", "blocks", "noise")
    grid: float = 0.4
    dark_text: float = 0.7
    colour_per_char: float = 0.4
    lines: tuple[int, int] = (0, 2)


@dataclass(frozen=True)
class TinyJpeg(Style):
    """Small images, 20 to 32 pixels high, often drawn at lower resolution and scaled up,
    blurred, and JPEG-compressed hard."""

    name: str = "tiny-jpeg"
    weight: float = 1.5
    height: tuple[int, int] = (20, 32)
    aspect: Range = (2.5, 4.5)
    glyph_size: Range = (0.7, 0.95)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "texture")
    lines: tuple[int, int] = (0, 2)
    line_width: Range = (1.0, 1.5)
    colour_per_char: float = 0.3
    low_resolution: float = 0.5
    blur: Range = (0.0, 0.6)
    jpeg: float = 1.0
    jpeg_quality: tuple[int, int] = (15, 70)


@dataclass(frozen=True)
class Arithmetic(Style):
    """Arithmetic questions such as `12+7`, `3×4=?` and `8-3=`; the label is the text as
    drawn, signs included."""

    name: str = "arithmetic"
    weight: float = 0.7
    text: TextKind = "arithmetic"
    backgrounds: tuple[str, ...] = ("plain", "gradient", "noise", "texture")
    lines: tuple[int, int] = (0, 3)
    dots: Range = (0.0, 0.03)
    colour_per_char: float = 0.3


@dataclass(frozen=True)
class Digits(Style):
    """Digit-only codes, as on many login pages: serif and sans digits, a colour per digit or
    not, thin curves, sometimes JPEG."""

    name: str = "digits"
    text: TextKind = "digits"
    height: tuple[int, int] = (22, 50)
    aspect: Range = (2.0, 4.0)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "texture")
    lines: tuple[int, int] = (0, 5)
    line_width: Range = (0.7, 1.5)
    colour_per_char: float = 0.5
    border: float = 0.3
    jpeg: float = 0.4


@dataclass(frozen=True)
class Transparent(Style):
    """Text on a transparent canvas, or an image with transparent margins (RGBA PNG), as web
    CAPTCHAs often are; ctcocr reads them composited on white."""

    name: str = "transparent"
    weight: float = 0.5
    height: tuple[int, int] = (24, 56)  # margins come on top
    lines: tuple[int, int] = (0, 2)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "noise")
    transparent: float = 1.0


@dataclass(frozen=True)
class Mix(Style):
    """Every other style, each drawn with probability proportional to its weight, except
    `gif` and `keep-color` (their labels need --frames merge, --keep-color) and `condensed`
    (weight 0). The `captcha`
    style's texts are alphanumeric here (no signs at random places)."""

    name: str = "mix"
    weight: float = 0.0

    def default_charset(self) -> str:
        chars = set().union(*(s.default_charset() for s in mix_components()))
        return "".join(c for c in GENERAL_CHARSET if c in chars)

    def can_draw(self, charset: str, low: int, high: int) -> bool:
        return bool(self.components(charset, low, high))

    def components(self, charset: str, low: int, high: int) -> list[Style]:
        """The styles mix draws from under these bounds."""
        return [s for s in mix_components() if _as_mixed(s).can_draw(charset, low, high)]

    def pick(self, styles: list[Style], rng: random.Random) -> Style:
        return _as_mixed(rng.choices(styles, weights=[s.weight for s in styles])[0])


def _as_mixed(style: Style) -> Style:
    return replace(style, text="alnum") if style.text == "uniform" else style


STYLES: dict[str, Style] = {
    style.name: style
    for style in (
        CaptchaPackage(),
        Plain(),
        MixedFonts(),
        NoisyLines(),
        Condensed(),
        Colourful(),
        Dots(),
        Hollow(),
        Warped(),
        Textured(),
        TinyJpeg(),
        Arithmetic(),
        Digits(),
        Transparent(),
        AnimatedGif(),  # these two pair with a preprocessing flag, and stay out of mix
        KeepColour(),
        Mix(),
    )
}


def mix_components() -> list[Style]:
    """The styles `mix` draws from (each with its weight)."""
    return [s for s in STYLES.values() if s.weight > 0 and not isinstance(s, Mix | TaskStyle)]


def style_named(name: str) -> Style:
    """The registered style `name`; ConfigError listing the names otherwise."""
    try:
        return STYLES[name]
    except KeyError:
        raise ConfigError(f"unknown style {name!r}: use one of {', '.join(STYLES)}") from None
