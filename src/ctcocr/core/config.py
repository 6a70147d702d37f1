"""Configuration: one frozen dataclass per concern, the single source of truth.

The CLI derives its flags from these fields (`help` in each field's metadata), and a run's
config.json stores them, so that a saved model rebuilds itself. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ctcocr.core.colours import MAX_COLOUR_DISTANCE, parse_colour
from ctcocr.core.errors import ConfigError

Architecture = Literal["cnn", "crnn"]
DEFAULT_EPOCHS = 30
DEFAULT_MIN_STEPS = 3000
# Fine-tuning (--init) starts from weights that already read: fewer steps are needed.
DEFAULT_FINETUNE_STEPS = 600
# ... and with rehearsal, where half of each batch is synthetic, about three times as many:
# 50 labels with rehearsal then train 55 epochs, as many as fit in 5 minutes on 2 cores, and
# captcha_images_v2 read 97.09% instead of 95.47% at 30 (three draws); the plates, not
# rehearsed, read less with more steps (docs/general-model.md#fine-tuning-steps).
REHEARSED_FINETUNE_STEPS = 1750
# Fine-tuning on fewer than REHEARSE_BELOW images mixes this share of synthetic images into
# each epoch (TrainConfig.rehearse; measured in docs/general-model.md).
DEFAULT_REHEARSE = 0.5
REHEARSE_BELOW = 1000
# ... unless the data holds characters no font draws and its labels show the others this many
# times each on average: enough to keep them from the files alone, where synthetic texts that
# lack the data's own characters cost more than they keep. Chosen between what the plates
# measured: 5 and 9 times (25 and 50 labels) gained from rehearsal, 18 (100) lost 4 points.
REHEARSE_UNTIL_SHOWN = 10.0
# Fine-tuning on fewer than REHEARSE_BELOW images augments this much harder (every range and
# probability of AugmentConfig times it): a few dozen images need more variety to stand for
# their kind (measured in docs/general-model.md).
FEW_SHOT_AUGMENT = 1.5
DEFAULT_VAL_FRACTION = 0.1
# Fine-tuning on fewer labelled images than this holds none out when no --val is given: 5 or
# 10 held-out images choose an epoch no better than keeping the last (accuracy moves in steps
# of 10-20%), and trained on, they read more (plates at 100 labels, docs/general-model.md).
HOLD_OUT_FROM = 200
# An RGB distance: with --keep-color red on white paper, (230, 20, 20) is full ink,
# (200, 30, 30) almost, dark red (139, 0, 0) barely, orange (255, 165, 0) and black not at all.
DEFAULT_COLOUR_TOLERANCE = 120.0


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape. Saved in config.json so that a run rebuilds its own model."""

    architecture: Architecture = field(
        default="crnn", metadata=_help("cnn: CNN + per-column classifier; crnn: CNN + BiLSTM")
    )
    time_steps: int = field(
        default=32,
        metadata=_help(
            "T, output columns; needs T >= 2 * longest label + 1 (default: 32, or "
            "the smallest width / 2**n that fits the labels)"
        ),
    )
    widths: tuple[int, ...] = field(
        default=(16, 32, 64, 128), metadata=_help("channels of each CNN stage")
    )
    depths: tuple[int, ...] = field(
        default=(1, 1, 1, 1), metadata=_help("conv layers in each CNN stage")
    )
    features: int = field(default=256, metadata=_help("channels per time step"))
    hidden: int = field(default=128, metadata=_help("BiLSTM units per direction (crnn)"))
    dropout: float = field(default=0.1, metadata=_help("dropout before the classifier"))

    def __post_init__(self) -> None:
        if self.architecture not in ("cnn", "crnn"):
            raise ConfigError(f"model {self.architecture!r}: use 'cnn' or 'crnn'")
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ConfigError(
                f"widths {self.widths} and depths {self.depths} must be non-empty and equally long"
            )
        if self.time_steps < 3:
            raise ConfigError(f"time_steps={self.time_steps}: use at least 3")

    def max_label_length(self) -> int:
        """The longest label CTC can align with T steps: T >= 2L + 1."""
        return (self.time_steps - 1) // 2

    def width_halvings(self, input_width: int) -> int:
        """How many times the CNN halves the width, so that input_width / 2**n == time_steps."""
        ratio = input_width / self.time_steps
        halvings = round(math.log2(ratio)) if ratio >= 2 else -1
        limit = len(self.widths) + 1
        if halvings < 1 or 2**halvings != ratio or halvings > limit:
            choices = ", ".join(str(input_width // 2**k) for k in range(1, limit + 1))
            raise ConfigError(
                f"input width {input_width} and time_steps {self.time_steps} do not fit: "
                f"width / time_steps must be a power of two from 2 to {2**limit} "
                f"(for width {input_width}, use --time-steps {choices})"
            )
        return halvings


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Saved in config.json beside the model for the record."""

    epochs: int | None = field(
        default=None,
        metadata=_help("passes over the data (default without --max-minutes: 30, >= 3000 steps)"),
    )
    max_minutes: float | None = field(
        default=None, metadata=_help("stop after this much wall time, keeping the best model")
    )
    batch_size: int = field(default=64, metadata=_help("images per step"))
    lr: float = field(default=2e-3, metadata=_help("peak learning rate (AdamW)"))
    weight_decay: float = field(default=0.01, metadata=_help("AdamW weight decay"))
    schedule: Literal["onecycle", "cosine"] = field(
        default="onecycle", metadata=_help("onecycle: warm up then anneal; cosine: anneal only")
    )
    seed: int = field(default=0, metadata=_help("seed for weights, shuffling and synthesis"))
    val_fraction: float | None = field(
        default=None,
        metadata=_help(
            f"share held out for validation when --val is not given (default: "
            f"{DEFAULT_VAL_FRACTION:g}; none when fine-tuning on fewer than {HOLD_OUT_FROM} "
            "images); 0: none held out, every image trains and the last epoch is kept"
        ),
    )
    epoch_size: int = field(
        default=10_000, metadata=_help("images per epoch when training on --synthetic data")
    )
    min_epoch_images: int = field(
        default=1024,
        metadata=_help(
            "a smaller set of files repeats within each epoch (each copy augmented anew), so "
            "that an epoch is not mostly loader start-up and validation; 0: off"
        ),
    )
    synthetic_reuse: int = field(
        default=4, metadata=_help("times each synthetic image is used (drawing one costs a step)")
    )
    val_size: int = field(
        default=1000, metadata=_help("validation images generated for --synthetic data")
    )
    workers: int = field(
        default=-1, metadata=_help("data loader processes; -1 picks from the CPU count")
    )
    threads: int = field(
        default=0,
        metadata=_help(
            "PyTorch threads training on the CPU; 0 picks: the cores the loader leaves when "
            "training on image files, every core for --synthetic and shards"
        ),
    )
    skip_bad: bool = field(
        default=False, metadata=_help("train on the readable images, skipping bad ones")
    )
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N"))
    amp: bool = field(
        default=False,
        metadata=_help("on CUDA, bf16 (else fp16) autocast: faster for wide networks, batch 512+"),
    )
    tensorboard: bool = field(
        default=False, metadata=_help("also log scalars to RUN/tensorboard (needs tensorboard)")
    )
    compile: bool = field(
        default=False, metadata=_help("torch.compile the network: a slow start, faster steps")
    )
    patience: int | None = field(
        default=None,
        metadata=_help("stop after this many epochs without a better validation (default: off)"),
    )
    repeat_rare: float = field(
        default=0.05,
        metadata=_help(
            "repeat images whose characters are in fewer than this share of the training "
            "images, by sqrt(this / share) (rare.py); 0: off"
        ),
    )
    augment: bool | None = field(
        default=None,
        metadata=_help("augment training images (default: on for image files, off for synthetic)"),
    )
    augment_strength: float | None = field(
        default=None,
        metadata=_help(
            "scale of every augmentation range and probability (default: 1, and "
            f"{FEW_SHOT_AUGMENT:g} when fine-tuning on fewer than {REHEARSE_BELOW:,} images)"
        ),
    )
    ignore_case: bool = field(
        default=False, metadata=_help("lower-case every label (for sets that disagree on case)")
    )
    rehearse: float | None = field(
        default=None,
        metadata=_help(
            "share of each epoch drawn synthetic (the mix style, in the run's characters and "
            "the data's lengths) beside the image files, so that a few dozen labels do not make a "
            f"pretrained model forget what it read (default: {DEFAULT_REHEARSE} when "
            f"fine-tuning on fewer than {REHEARSE_BELOW:,} images, unless they hold characters "
            "no font draws and show the others often; else 0); 0: off"
        ),
    )

    teacher: str | None = field(
        default=None,
        metadata={
            "help": "also learn to read each column as this run (or shipped model) reads it: "
            "distillation, for a smaller network learning from a larger one; same input, T "
            "and charset",
            "metavar": "RUN",
        },
    )

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs}: use at least 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes={self.max_minutes}: use a positive number")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size}: use at least 1")
        if self.threads < 0:
            raise ConfigError(f"threads={self.threads}: use 0 (picked from the cores) or more")
        if self.synthetic_reuse < 1:
            raise ConfigError(
                f"synthetic_reuse={self.synthetic_reuse}: use at least 1 (1: every image fresh)"
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience={self.patience}: use at least 1 epoch")
        if not 0 <= self.repeat_rare < 1:
            raise ConfigError(f"repeat_rare={self.repeat_rare}: use a share from 0 (off) to 1")
        if self.min_epoch_images < 0:
            raise ConfigError(f"min_epoch_images={self.min_epoch_images}: use 0 (off) or more")
        if self.augment_strength is not None and self.augment_strength < 0:
            raise ConfigError(f"augment_strength={self.augment_strength}: use 0 or more")
        if self.rehearse is not None and not 0 <= self.rehearse < 1:
            raise ConfigError(f"rehearse={self.rehearse}: use a share from 0 (off) to below 1")
        if self.val_fraction is not None and not 0 <= self.val_fraction < 1:
            raise ConfigError(
                f"val_fraction={self.val_fraction}: use a share from 0 (none held out) to below 1"
            )

    def limits(
        self, steps_per_epoch: int, fine_tuning: bool = False, rehearsing: bool = False
    ) -> tuple[int | None, float | None]:
        """(epochs, minutes). With neither given: 30 epochs, and at least `least_steps` steps,
        so that a small dataset still gets enough updates."""
        if self.epochs is None and self.max_minutes is None:
            steps = least_steps(fine_tuning, rehearsing)
            return max(DEFAULT_EPOCHS, math.ceil(steps / max(1, steps_per_epoch))), None
        return self.epochs, self.max_minutes


def least_steps(fine_tuning: bool, rehearsing: bool) -> int:
    """The fewest steps a default plan trains: 3,000 from scratch, 600 when fine-tuning, 1,750
    when fine-tuning with synthetic rehearsal."""
    if not fine_tuning:
        return DEFAULT_MIN_STEPS
    return REHEARSED_FINETUNE_STEPS if rehearsing else DEFAULT_FINETUNE_STEPS


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes the model's input tensor. Stored with every model."""

    width: int = 128
    height: int = 64
    channels: Literal[1, 3] = 1
    # "stretch": resize to width x height, ignoring aspect ratio.
    # "pad": keep the aspect ratio, scale to fit, and pad right/bottom with the border colour.
    resize: Literal["stretch", "pad"] = "stretch"
    # The fields below came later: a config.json without them reads with these defaults, which
    # are what every older model did (first frame, no colour filter). `data/images.flatten`.
    frames: Literal["first", "merge"] = field(
        default="first",
        metadata=_help(
            "animated images (GIF, APNG, WebP): first: read the first frame; merge: every "
            "frame's ink in one picture, for CAPTCHAs whose characters appear over frames"
        ),
    )
    keep_color: str | None = field(
        default=None,
        metadata={
            "help": "keep only the ink of this colour (a CSS name such as red, or #rrggbb): "
            "pixels near it become dark ink on white, everything else background",
            "metavar": "COLOR",
        },
    )
    color_tolerance: float = field(
        default=DEFAULT_COLOUR_TOLERANCE,
        metadata={
            "help": "with --keep-color: how far (RGB distance, up to 441.7) a pixel's ink may be "
            "from the colour; full ink up to half of it",
            "metavar": "DISTANCE",
        },
    )

    def __post_init__(self) -> None:
        if self.frames not in ("first", "merge"):
            raise ConfigError(f"frames={self.frames!r}: use 'first' or 'merge'")
        if self.keep_color is not None:
            parse_colour(self.keep_color, "keep_color")  # else a ConfigError naming it
        tolerance = self.color_tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
            raise ConfigError(f"color_tolerance={tolerance!r}: use a number")
        if not 0 < tolerance <= MAX_COLOUR_DISTANCE:
            raise ConfigError(
                f"color_tolerance={tolerance}: use a distance above 0 and at most "
                f"{MAX_COLOUR_DISTANCE:.1f} (black to white, in RGB)"
            )
        if self.width < 8 or self.height < 8:
            raise ConfigError(
                f"input size {self.width}x{self.height} is too small: use at least 8x8"
            )
        if self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels}: use 1 (grayscale) or 3 (RGB)")
        if self.resize not in ("stretch", "pad"):
            raise ConfigError(f"resize={self.resize!r}: use 'stretch' or 'pad'")
