"""Flags and arguments that several `ctcocr` subcommands share, and turning them into the
package's config objects (the flags come from the config dataclasses' fields)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctcocr.core.config_flags import parse_range, parse_size
from ctcocr.core.errors import DataError, ModelFileError
from ctcocr.core.run_folder import CONFIG, incomplete_run
from ctcocr.data.images import IMAGE_SUFFIXES
from ctcocr.data.samples import image_files

if TYPE_CHECKING:
    from ctcocr.data.synth import SynthConfig
    from ctcocr.decoding.decoder import DecodeOptions


def synth_flags(parser: argparse.ArgumentParser) -> None:
    from ctcocr.data.styles import STYLES

    parser.add_argument("--length", type=parse_range, default=(4, 6), help="text length A-B")
    parser.add_argument(
        "--charset",
        help="characters to draw (default: all the --style draws; captcha: digits + upper case)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=None,  # None: not given, so the configs' defaults (or --init's run) hold
        help="image size WxH of the captcha style (others draw 20-80 pixels high, 2:1-6:1); "
        "in train, also the model's input size (default: 128x64, or the --init run's)",
    )
    parser.add_argument(
        "--style",
        default="captcha",
        metavar="NAME",
        help=f"synthesis style: {', '.join(STYLES)} (default: captcha; `ctcocr styles` shows them)",
    )
    parser.add_argument("--font-dir", default="", help="a folder of extra .ttf/.otf fonts to draw")


def training_flags(parser: argparse.ArgumentParser, with_model: bool = True) -> None:
    """What train reads: the data, its preprocessing, the model and training configuration."""
    from ctcocr.core.config import ModelConfig, PreprocessConfig, TrainConfig
    from ctcocr.core.config_flags import add_fields
    from ctcocr.data.samples import DEFAULT_LABEL_PATTERN

    parser.add_argument(
        "data", type=Path, nargs="?", help="dataset folder, CSV, image folder, or packed shards"
    )
    parser.add_argument("--synthetic", action="store_true", help="train on endless CAPTCHAs")
    parser.add_argument(
        "--no-init",
        action="store_true",
        help="train image files from scratch, not from the shipped general model",
    )
    parser.add_argument("--val", type=Path, help="validation data (default: hold out a share)")
    parser.add_argument(
        "--label-pattern",
        default=DEFAULT_LABEL_PATTERN,
        help="regex with (?P<label>...) for label-named image files",
    )
    # None when not given, so that --init can keep its run's input (the defaults: 1, stretch)
    parser.add_argument("--channels", type=int, choices=(1, 3), help="1 gray, 3 RGB (default: 1)")
    parser.add_argument(
        "--resize",
        choices=("stretch", "pad"),
        help="how images meet the input size (default: stretch)",
    )
    # --frames, --keep-color, --color-tolerance: the rest of PreprocessConfig, from its fields
    add_fields(parser, PreprocessConfig, skip=frozenset({"width", "height", "channels", "resize"}))
    synth_flags(parser)
    skip = frozenset() if with_model else frozenset({"architecture"})
    add_fields(parser, ModelConfig, skip=skip, rename={"architecture": "model"})
    add_fields(parser, TrainConfig)


def synth_config(args: argparse.Namespace) -> SynthConfig:
    from ctcocr.data.synth import SynthConfig

    low, high = args.length
    size = {} if args.size is None else {"width": args.size[0], "height": args.size[1]}
    return SynthConfig(
        **size,  # not given: SynthConfig's own default
        min_length=low,
        max_length=high,
        charset=args.charset or "",
        style=args.style,
        font_dir=args.font_dir,
    )


def decode_flags(parser: argparse.ArgumentParser) -> None:
    from ctcocr.core.config_flags import add_fields
    from ctcocr.decoding.decoder import DecodeOptions

    add_fields(parser, DecodeOptions, types={"length": parse_range, "lexicon": Path})


def decode_options(args: argparse.Namespace) -> DecodeOptions:
    from ctcocr.core.config_flags import from_args
    from ctcocr.decoding.decoder import DecodeOptions, read_lexicon

    lexicon = read_lexicon(args.lexicon) if args.lexicon is not None else None
    return from_args(DecodeOptions, args, lexicon=lexicon)


def split_model(paths: list[Path]) -> tuple[Path | None, list[Path]]:
    """`predict [MODEL] IMAGE...`: the first of several paths is the model unless it is an
    image or a folder of images; a lone path is read with the shipped model. A folder with a
    training's files but no config.json is an incomplete run, never a folder of images."""
    first = paths[0]
    incomplete = incomplete_run(first)
    if incomplete:
        raise ModelFileError(incomplete)
    is_run = first.is_dir() and (first / CONFIG).is_file()
    if len(paths) == 1:
        if is_run or first.suffix.lower() == ".onnx":
            raise DataError(f"{first} is a model: name the images to read after it")
        return None, paths
    images_folder = first.is_dir() and not is_run and bool(image_files(first))
    if images_folder or first.suffix.lower() in IMAGE_SUFFIXES:
        return None, paths
    return first, paths[1:]


def image_paths(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            if (item / CONFIG).is_file() or incomplete_run(item):
                raise DataError(
                    f"{item} is a run folder, not a folder of images: give the model first, "
                    "then the images"
                )
            found = image_files(item)
            if not found:
                raise DataError(f"{item}: no images in this folder")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return files
