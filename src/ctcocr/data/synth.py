"""Synthetic CAPTCHAs of a named style, deterministic for a seed.

The default style, `captcha`, is the `captcha` package's ImageCaptcha. It draws its randomness
from the `secrets` module, which cannot be seeded, so we lend it a seeded stand-in for the
duration of each call. The other styles (`styles.py`) are drawn by `render.py` from a generator
seeded by (style, seed, index). Either way image `i` of seed `s` is always the same picture,
whichever process or worker draws it (with the same fonts installed).

>>> synth = CaptchaSynth(SynthConfig(style="mix", min_length=3, max_length=8), seed=7)
>>> image, label = synth.sample(0)
"""

from __future__ import annotations

import csv
import io
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from captcha import image as captcha_image
from PIL import Image

from ctcocr.core.errors import ConfigError, DataError
from ctcocr.data.fonts import available_fonts
from ctcocr.data.render import draw_captcha
from ctcocr.data.style_base import Style
from ctcocr.data.styles import CaptchaPackage, Mix, style_named
from ctcocr.data.task_styles import TaskStyle
from ctcocr.data.texts import make_text

_SECRETS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SynthConfig:
    """What the generated CAPTCHAs look like."""

    width: int = field(default=128, metadata={"help": "image width of the captcha style"})
    height: int = field(default=64, metadata={"help": "image height of the captcha style"})
    min_length: int = field(default=4, metadata={"help": "shortest text"})
    max_length: int = field(default=6, metadata={"help": "longest text"})
    # "" = every character the style draws (the captcha style: digits + upper case)
    charset: str = field(default="", metadata={"help": "characters to draw from"})
    style: str = field(default="captcha", metadata={"help": "named style (styles.py)"})
    font_dir: str = field(default="", metadata={"help": "a folder of extra .ttf/.otf fonts"})

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ConfigError(
                f"length {self.min_length}-{self.max_length}: use 1 <= min <= max, e.g. 4-6"
            )
        if self.width < 16 or self.height < 16:
            raise ConfigError(f"size {self.width}x{self.height} is too small: use at least 16x16")
        style = style_named(self.style)
        if not self.charset:  # frozen: set once, here, so that the record names the characters
            object.__setattr__(self, "charset", style.default_charset())
        if not style.can_draw(self.charset, self.min_length, self.max_length):
            raise ConfigError(
                f"style {self.style!r} draws nothing within the charset {self.charset!r} and "
                f"length {self.min_length}-{self.max_length}: it draws {style.default_charset()!r}"
                f"{' (expressions of 3 to 7 characters)' if style.text == 'arithmetic' else ''}; "
                "widen --charset or --length, or choose another --style"
            )


class _SeededSecrets:
    """The three functions of `secrets` that ImageCaptcha calls, drawn from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.randbelow = rng.randrange
        self.randbits = rng.getrandbits
        self.choice = rng.choice


class CaptchaSynth:
    """Draws (image, label) pairs of the config's style; sample `index` depends only on the
    seed, the index and the style (and, for the drawn styles, the fonts installed)."""

    def __init__(self, config: SynthConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.style = style_named(config.style)
        low, high = config.min_length, config.max_length
        self._mixed = (
            self.style.components(config.charset, low, high) if isinstance(self.style, Mix) else []
        )
        # Checked here, in the main process, so a bad font fails before training starts.
        self.fonts = available_fonts(config.font_dir) if self._draws_fonts() else ()
        self._captchas: dict[tuple[int, int], captcha_image.ImageCaptcha] = {}

    def _draws_fonts(self) -> bool:
        styles = self._mixed or [self.style]
        return any(not isinstance(style, CaptchaPackage) for style in styles)

    def sample(self, index: int) -> tuple[Image.Image, str]:
        if isinstance(self.style, CaptchaPackage):
            rng = random.Random(f"ctcocr-synth:{self.seed}:{index}")
            return self._captcha(self._text(self.style, rng), rng)
        rng = random.Random(f"ctcocr-synth:{self.style.name}:{self.seed}:{index}")
        style = self.style.pick(self._mixed, rng) if isinstance(self.style, Mix) else self.style
        label = self._text(style, rng)
        if isinstance(style, CaptchaPackage):
            return self._captcha(label, rng)
        generator = np.random.default_rng(rng.getrandbits(64))
        if isinstance(style, TaskStyle):  # gif, keep-color: pictures of their own making
            return style.draw(label, self.config.charset, self.fonts, generator), label
        return draw_captcha(style, label, self.fonts, generator), label

    def _text(self, style: Style, rng: random.Random) -> str:
        config = self.config
        low, high = config.min_length, config.max_length
        return make_text(style.text, style.cases, config.charset, low, high, rng)

    def _captcha(self, label: str, rng: random.Random) -> tuple[Image.Image, str]:
        """ImageCaptcha's picture of `label`, its randomness drawn from `rng`."""
        size = (self.config.width, self.config.height)
        if size not in self._captchas:
            self._captchas[size] = captcha_image.ImageCaptcha(width=size[0], height=size[1])
        with _SECRETS_LOCK:
            original = captcha_image.secrets
            captcha_image.secrets = _SeededSecrets(rng)  # type: ignore[assignment]
            try:
                image = self._captchas[size].generate_image(label)
            finally:
                captcha_image.secrets = original
        return image, label

    def samples(self, start: int = 0, step: int = 1) -> Iterator[tuple[Image.Image, str]]:
        """Samples start, start + step, ... without end."""
        index = start
        while True:
            yield self.sample(index)
            index += step


def png_samples(count: int, seed: int, config: SynthConfig | None = None) -> list[bytes]:
    """`count` CAPTCHAs of `config` (default style), PNG-encoded, as a client would send them."""
    synth = CaptchaSynth(config or SynthConfig(), seed)
    encoded = []
    for index in range(count):
        buffer = io.BytesIO()
        synth.sample(index)[0].save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    return encoded


def write_dataset(out: Path, count: int, config: SynthConfig, seed: int) -> Path:
    """Write `count` CAPTCHAs as out/images/NNNNNN.png (.gif for the gif style) plus
    out/labels.csv (path,label)."""
    if count < 1:
        raise ConfigError(f"count={count}: ask for at least one image")
    if (out / "labels.csv").exists():
        raise DataError(f"{out} already holds a dataset (labels.csv): choose a new folder")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    synth = CaptchaSynth(config, seed)
    digits = max(6, len(str(count - 1)))
    rows = []
    for index in range(count):
        image, label = synth.sample(index)
        animated = image.format == "GIF"  # the gif style: the animation, every frame of it
        relative = f"images/{index:0{digits}d}.{'gif' if animated else 'png'}"
        image.save(out / relative, save_all=animated)
        rows.append((relative, label))
    temporary = out / "labels.csv.tmp"
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    temporary.replace(out / "labels.csv")
    return out
