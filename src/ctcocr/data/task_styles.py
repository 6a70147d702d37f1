"""Styles that pair with a preprocessing flag: `gif`, whose characters appear over the frames
of an animated GIF (train with `--frames merge`), and `keep-color`, whose label is the
characters of one colour among decoys of other colours (train with `--keep-color red`).

Both draw their own pictures from the drawing engine's parts (backgrounds, glyph tiles, curves,
dots) and stay out of `mix`: read without their flag, their pictures do not show their labels
(the first frame of a GIF holds only some of its characters; a keep-color picture holds
decoys), so they would teach a general model to drop characters it sees.

>>> image = AnimatedGif().draw("x7Kp", string.ascii_letters + string.digits, fonts, rng)
>>> image.format, image.n_frames >= 2
('GIF', True)
"""

from __future__ import annotations

import io
import string
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ctcocr.core.colours import colour_distance, parse_colour
from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import ConfigError
from ctcocr.data.draw import Colour, background, colour, draw_curve, draw_dots, luminance
from ctcocr.data.fonts import Font, font_size_for, open_font
from ctcocr.data.glyphs import GlyphSpec, glyph_tile
from ctcocr.data.style_base import Range, Style

Fonts = tuple[Font, ...]
# Decoys lie at least this far from the target colour: 1.5 x the default --color-tolerance, so
# the filter removes every one of them, anti-aliased edges included.
DECOY_DISTANCE = 180.0


@dataclass(frozen=True)
class TaskStyle(Style):
    """A style that draws its own pictures (`draw`) and stays out of `mix`."""

    def draw(self, text: str, charset: str, fonts: Fonts, rng: np.random.Generator) -> Image.Image:
        """One picture whose label is `text`; `charset` is what the synthesis may draw."""
        raise NotImplementedError


def _font(style: Style, text: str, fonts: Fonts, rng: np.random.Generator) -> Font:
    grouped = [f for f in fonts if f.group in style.fonts and f.covers(text)]
    covering = grouped or [f for f in fonts if f.covers(text)] or list(fonts)
    return covering[int(rng.integers(0, len(covering)))]


def _specs(style: Style, text: str, colours: list[Colour], height: int, fonts: Fonts, rng):
    """A glyph per character of `text`, in one font and size, each in its colour."""
    chosen = _font(style, text, fonts, rng)
    size = height * rng.uniform(*style.glyph_size)
    font = open_font(chosen.path, font_size_for(size), bool(rng.random() < style.bold))
    effect = style.effects[int(rng.integers(0, len(style.effects)))]
    specs = []
    for char, fill in zip(text, colours, strict=True):
        rotation = rng.uniform(-1, 1) * style.rotation
        rise = rng.uniform(-1, 1) * style.rise * height
        specs.append(GlyphSpec(char, font, size, fill, effect, rotation, rise))
    return specs


def _layers(style: Style, specs: list[GlyphSpec], height: int, rng) -> list[Image.Image]:
    """One RGBA layer per character, all of the picture's size, set on one line that fits.

    Like `glyphs.text_line`, but a layer each, so that a frame can show some of them."""
    tiles = [glyph_tile(spec, rng) for spec in specs]
    advances = [spec.font.getlength(spec.char) * spec.size / spec.font.size for spec in specs]
    gaps = [rng.uniform(*style.spacing) * specs[0].size for _ in specs]
    line_height = max(t.height for t in tiles) + 2 * int(max(abs(s.rise) for s in specs)) + 2
    line_width = int(sum(advances) + sum(gaps[:-1]) + tiles[-1].width) + 4
    margin = rng.uniform(0.1, 0.3) * height
    low, high = style.aspect[0] * height, style.aspect[1] * height
    width = round(min(max(line_width + 2 * margin, low), high))
    fit = min(1.0, 0.95 * height / line_height, (width - 2 * margin) / line_width)
    left = rng.uniform(margin, max(margin, width - margin - line_width * fit))
    top = (height - line_height * fit) / 2 + rng.uniform(-0.2, 0.2) * height * (1 - fit)
    layers, x = [], 2.0
    for tile, spec, advance, gap in zip(tiles, specs, advances, gaps, strict=True):
        if fit < 1.0:
            shrunk = (max(1, round(tile.width * fit)), max(1, round(tile.height * fit)))
            tile = tile.resize(shrunk, Image.Resampling.BILINEAR)
        centre_x = left + (x + advance / 2) * fit
        centre_y = top + (line_height / 2 - spec.rise) * fit
        corner = (round(centre_x - tile.width / 2), round(centre_y - tile.height / 2))
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        layer.alpha_composite(tile, (max(0, corner[0]), max(0, corner[1])))
        layers.append(layer)
        x += advance + gap
    return layers


def _paper(style: Style, size: tuple[int, int], light: bool, rng) -> Image.Image:
    kind = style.backgrounds[int(rng.integers(0, len(style.backgrounds)))]
    return Image.fromarray(background(kind, size[0], size[1], light, rng))


def _curves(picture: Image.Image, style: Style, fills: list[Colour], rng) -> None:
    """style.lines curves, each in one of `fills`, drawn on `picture` in place."""
    for _ in range(int(rng.integers(style.lines[0], style.lines[1] + 1))):
        fill = fills[int(rng.integers(0, len(fills)))]
        kind = style.curves[int(rng.integers(0, len(style.curves)))]
        thickness = max(1, round(rng.uniform(*style.line_width) * picture.height / 40))
        draw_curve(picture, kind, fill, thickness, rng)


def _with_dots(picture: Image.Image, style: Style, fills: list[Colour], rng) -> Image.Image:
    if style.dots[1] <= 0:
        return picture
    pixels = np.array(picture)
    draw_dots(pixels, rng.uniform(*style.dots), fills, rng)
    return Image.fromarray(pixels)


@dataclass(frozen=True)
class AnimatedGif(TaskStyle):
    """An animated GIF of 2 to 4 frames, each showing some of the characters (every character
    in at least one frame, no frame showing them all) over one background, with noise dots that
    change from frame to frame; the label is the whole text. Train with --frames merge."""

    name: str = "gif"
    weight: float = 0.3  # mix leaves a TaskStyle out, whatever its weight
    height: tuple[int, int] = (28, 56)
    aspect: Range = (2.5, 5.0)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "texture")
    lines: tuple[int, int] = (0, 2)
    dots: Range = (0.003, 0.012)  # per frame: merged, the frames' dots add up
    colour_per_char: float = 0.3
    frames: tuple[int, int] = (2, 4)
    repeat: float = 0.25  # probability that a character shows in a second frame too

    def draw(self, text: str, charset: str, fonts: Fonts, rng: np.random.Generator) -> Image.Image:
        height = int(rng.integers(self.height[0], self.height[1] + 1))
        light = bool(rng.random() < self.dark_text)
        ink = colour(rng, light=not light, saturated=rng.random() < 0.5)
        per_char = rng.random() < self.colour_per_char
        colours = [colour(rng, light=not light) if per_char else ink for _ in text]
        layers = _layers(self, _specs(self, text, colours, height, fonts, rng), height, rng)
        paper = _paper(self, layers[0].size, light, rng)
        _curves(paper, self, [ink, colour(rng, light=not light)], rng)
        shown = self._frames_of(len(text), rng)
        noise = [ink, colour(rng, light=not light), colour(rng, light=light)]
        frames = []
        for members in shown:
            frame = paper.copy()
            for index in members:
                frame.paste(layers[index], (0, 0), layers[index])
            frames.append(_with_dots(frame, self, noise, rng))
        return _gif(frames, rng)

    def _frames_of(self, length: int, rng: np.random.Generator) -> list[set[int]]:
        """The characters each frame shows: each in one frame (the frames share them out),
        some in a second one too, unless that frame would then show all of them."""
        count = int(rng.integers(self.frames[0], self.frames[1] + 1))
        homes = rng.permutation(max(count, length))[:length] % count
        shown: list[set[int]] = [set() for _ in range(count)]
        for index, home in enumerate(homes):
            shown[int(home)].add(index)
        for index in range(length):
            other = shown[int(rng.integers(0, count))]
            if rng.random() < self.repeat and index not in other and len(other) < length - 1:
                other.add(index)
        return shown


def _gif(frames: list[Image.Image], rng: np.random.Generator) -> Image.Image:
    """The frames as an animated GIF file, opened: what a web page would serve. One palette for
    all frames, so that the file's frames decode to these very colours and saving it again
    (`write_dataset`) writes the same pictures."""
    width, height = frames[0].size
    strip = Image.new("RGB", (width, height * len(frames)))
    for index, frame in enumerate(frames):
        strip.paste(frame, (0, index * height))
    palette = strip.quantize(255, dither=Image.Dither.NONE)
    indexed = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    buffer = io.BytesIO()
    durations = [int(rng.integers(15, 41)) * 10 for _ in frames]  # 150-400 ms
    indexed[0].save(
        buffer, "GIF", save_all=True, append_images=indexed[1:], duration=durations, loop=0
    )
    opened = Image.open(io.BytesIO(buffer.getvalue()))
    opened.load()
    return opened


@dataclass(frozen=True)
class KeepColour(TaskStyle):
    """A "type the red characters" CAPTCHA: the label's characters in one colour (`target`,
    red unless set, varied a little), 1 to 4 decoy characters of clearly other colours, and
    thin curves mostly in the decoys' colours, on light paper (dark paper for a pale target);
    the label is the target-coloured characters only. Train with --keep-color red."""

    name: str = "keep-color"
    weight: float = 0.3  # mix leaves a TaskStyle out, whatever its weight
    target: str = "red"  # a CSS colour name or #rrggbb, as --keep-color takes it
    decoys: tuple[int, int] = (1, 4)
    height: tuple[int, int] = (30, 60)
    aspect: Range = (3.0, 6.0)
    spacing: Range = (0.0, 0.25)
    backgrounds: tuple[str, ...] = ("plain", "gradient", "noise", "texture")
    lines: tuple[int, int] = (1, 3)
    line_width: Range = (0.8, 1.6)
    dots: Range = (0.0, 0.02)
    target_lines: float = 0.2  # probability that the curves include one in the target colour

    def __post_init__(self) -> None:
        parse_colour(self.target, f"{self.name} target")  # else a ConfigError naming it

    def draw(self, text: str, charset: str, fonts: Fonts, rng: np.random.Generator) -> Image.Image:
        target = parse_colour(self.target)
        light = luminance(target) < 140  # a dark or saturated target on light paper
        height = int(rng.integers(self.height[0], self.height[1] + 1))
        decoys = int(rng.integers(self.decoys[0], self.decoys[1] + 1))
        is_target = np.array([True] * len(text) + [False] * decoys)
        rng.shuffle(is_target)
        alphabet = _decoy_alphabet(text, charset)
        label, drawn, colours = iter(text), [], []
        for wanted in is_target:
            if wanted:
                drawn.append(next(label))
                colours.append(_near(target, rng))
            else:
                drawn.append(alphabet[int(rng.integers(0, len(alphabet)))])
                colours.append(_decoy_colour(target, light, rng))
        specs = _specs(self, "".join(drawn), colours, height, fonts, rng)
        layers = _layers(self, specs, height, rng)
        picture = _paper(self, layers[0].size, light, rng)
        for layer in layers:
            picture.paste(layer, (0, 0), layer)
        fills = [_decoy_colour(target, light, rng) for _ in range(3)]
        _curves(picture, self, fills + [target] * (rng.random() < self.target_lines), rng)
        return _with_dots(picture, self, fills, rng)


def _near(target: tuple[int, int, int], rng: np.random.Generator) -> Colour:
    """The target colour, each channel moved by up to 25: at most 43 away, full ink."""
    red, green, blue = np.clip(np.asarray(target) + rng.integers(-25, 26, 3), 0, 255)
    return int(red), int(green), int(blue)


def _decoy_colour(target: tuple[int, int, int], light: bool, rng: np.random.Generator) -> Colour:
    """A text colour for light (or dark) paper at least DECOY_DISTANCE from the target."""
    for _ in range(30):
        candidate = colour(rng, light=not light)
        if colour_distance(candidate, target) >= DECOY_DISTANCE:
            return candidate
    fallback: list[Colour] = [(0, 0, 0), (20, 20, 160), (0, 110, 0), (255, 255, 255)]
    return max(fallback, key=lambda c: colour_distance(c, target))


def _decoy_alphabet(text: str, charset: str) -> str:
    """Characters of the charset in the label's cases (digits always): decoys that look like
    the label's own characters."""
    allowed = string.digits
    allowed += string.ascii_lowercase if any(c.islower() for c in text) else ""
    allowed += string.ascii_uppercase if any(c.isupper() for c in text) else ""
    return "".join(c for c in charset if c in allowed) or charset


def check_task_input(style: Style, preprocess: PreprocessConfig) -> None:
    """A task style's labels hold only what its preprocessing shows: training on it without
    that preprocessing teaches the model labels its input does not show (2.2% measured, see
    docs/guide.md). ConfigError naming the flag to add."""
    if isinstance(style, AnimatedGif) and preprocess.frames != "merge":
        raise ConfigError(
            f"--style {style.name} shows each character in some frames only: train with "
            "--frames merge (the first frame alone does not show the label)"
        )
    wanted = parse_colour(style.target) if isinstance(style, KeepColour) else None
    given = parse_colour(preprocess.keep_color) if preprocess.keep_color else None
    if isinstance(style, KeepColour) and preprocess.channels != 3 and given != wanted:
        raise ConfigError(
            f"--style {style.name} labels the {style.target} characters only: train with "
            f"--keep-color {style.target} (or --channels 3, so that the model sees colour)"
        )
