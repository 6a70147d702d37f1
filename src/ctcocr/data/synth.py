"""Synthetic CAPTCHAs from the `captcha` package's ImageCaptcha, deterministic for a seed.

ImageCaptcha draws its randomness from the `secrets` module, which cannot be seeded. We lend it
a seeded stand-in for the duration of each call, so image `i` of seed `s` is always the same
picture, whichever process or worker draws it.

>>> synth = CaptchaSynth(SynthConfig(), seed=7)
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

from captcha import image as captcha_image
from PIL import Image

from ctcocr.core.charset import DEFAULT_CHARSET
from ctcocr.core.errors import ConfigError, DataError

_SECRETS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SynthConfig:
    """What the generated CAPTCHAs look like."""

    width: int = field(default=128, metadata={"help": "image width in pixels"})
    height: int = field(default=64, metadata={"help": "image height in pixels"})
    min_length: int = field(default=4, metadata={"help": "shortest text"})
    max_length: int = field(default=6, metadata={"help": "longest text"})
    charset: str = field(default=DEFAULT_CHARSET, metadata={"help": "characters to draw from"})

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ConfigError(
                f"length {self.min_length}-{self.max_length}: use 1 <= min <= max, e.g. 4-6"
            )
        if not self.charset:
            raise ConfigError("the synthetic charset is empty: give some characters")
        if self.width < 16 or self.height < 16:
            raise ConfigError(f"size {self.width}x{self.height} is too small: use at least 16x16")


class _SeededSecrets:
    """The three functions of `secrets` that ImageCaptcha calls, drawn from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.randbelow = rng.randrange
        self.randbits = rng.getrandbits
        self.choice = rng.choice


class CaptchaSynth:
    """Draws (image, label) pairs; sample `index` depends only on the seed and the index."""

    def __init__(self, config: SynthConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self._captcha = captcha_image.ImageCaptcha(width=config.width, height=config.height)

    def sample(self, index: int) -> tuple[Image.Image, str]:
        rng = random.Random(f"ctcocr-synth:{self.seed}:{index}")
        length = rng.randint(self.config.min_length, self.config.max_length)
        label = "".join(rng.choice(self.config.charset) for _ in range(length))
        with _SECRETS_LOCK:
            original = captcha_image.secrets
            captcha_image.secrets = _SeededSecrets(rng)  # type: ignore[assignment]
            try:
                image = self._captcha.generate_image(label)
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
    """Write `count` CAPTCHAs as out/images/NNNNNN.png plus out/labels.csv (path,label)."""
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
        relative = f"images/{index:0{digits}d}.png"
        image.save(out / relative)
        rows.append((relative, label))
    temporary = out / "labels.csv.tmp"
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    temporary.replace(out / "labels.csv")
    return out
