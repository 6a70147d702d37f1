"""The knobs of the drawing engine (`render.py`): `Style`, a frozen dataclass with neutral
defaults. Each named style in `styles.py` is a subclass that changes a few of them.

>>> Style(name="bold-dots", bold=1.0, dots=(0.05, 0.1)).can_draw("0123456789", 4, 6)
True
"""

from __future__ import annotations

from dataclasses import dataclass

from ctcocr.data.texts import Case, TextKind, can_draw, kind_alphabet

Range = tuple[float, float]
ALL_CASES: tuple[Case, ...] = ("upper", "lower", "mixed")
ALL_GROUPS = ("serif", "sans", "mono", "display")


@dataclass(frozen=True)
class Style:
    """The knobs of the drawing engine. Ranges are (low, high), drawn uniformly per image;
    shares of the image height unless said otherwise; probabilities are per image."""

    name: str = ""
    weight: float = 1.0  # share of `mix` (0: not in it)
    text: TextKind = "alnum"
    cases: tuple[Case, ...] = ALL_CASES
    fonts: tuple[str, ...] = ALL_GROUPS  # font groups: serif, sans, mono, display
    font_per_char: bool = False
    bold: float = 0.3  # probability that a variable font is drawn at weight 700
    height: tuple[int, int] = (28, 64)  # pixels
    aspect: Range = (2.5, 5.0)  # width / height
    glyph_size: Range = (0.6, 0.85)  # font size / image height
    size_jitter: float = 0.0  # each character's size varies by up to this share
    glyph_width: Range = (1.0, 1.0)  # glyph width / the font's, per image (< 1: condensed)
    rotation: float = 8.0  # degrees, each character
    spacing: Range = (-0.03, 0.2)  # gap between characters / font size; < 0 overlaps
    rise: float = 0.04  # each character moves up or down by up to this share
    colour_per_char: float = 0.0  # probability of a colour per character
    dark_text: float = 0.95  # probability of dark text on light (else light on dark)
    backgrounds: tuple[str, ...] = ("plain",)  # plain, gradient, noise, texture, blocks
    effects: tuple[str, ...] = ("solid",)  # solid, hollow, outlined, shadow, dotted, smudge
    lines: tuple[int, int] = (0, 0)  # interference curves per image
    curves: tuple[str, ...] = ("line", "arc", "bezier", "wave")
    line_width: Range = (1.0, 2.0)  # pixels at 40 pixels of height
    lines_in_text_colour: float = 0.5  # share of curves in the text's colour
    dots: Range = (0.0, 0.0)  # share of pixels dotted
    grid: float = 0.0  # probability of a grid behind the text
    border: float = 0.0  # probability of a 1-pixel frame
    warps: tuple[str, ...] = ()  # sine, elastic: one per image, if any
    warp_strength: Range = (0.0, 0.0)  # displacement / height
    blur: Range = (0.0, 0.0)  # Gaussian radius in pixels at 40 pixels of height
    low_resolution: float = 0.0  # probability of drawing at 1/2 to 1/3 size, then scaling up
    jpeg: float = 0.0  # probability of JPEG compression
    jpeg_quality: tuple[int, int] = (20, 80)
    transparent: float = 0.0  # probability of a transparent background or margins (RGBA)
    grey: float = 0.0  # probability of a greyscale ("L") image

    def default_charset(self) -> str:
        """The characters this style draws when no --charset narrows them."""
        return kind_alphabet(self.text, self.cases)

    def can_draw(self, charset: str, low: int, high: int) -> bool:
        return can_draw(self.text, self.cases, charset, low, high)
