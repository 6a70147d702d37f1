"""The `ctcocr` command: synth, train, evaluate, predict, augment-preview, demo.

Thin by design: it parses flags (derived from the config dataclasses), calls the package and
prints. Errors of the package become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctcocr import __version__
from ctcocr.data import image_files
from ctcocr.errors import CtcocrError, DataError
from ctcocr.options import parse_range, parse_size

if TYPE_CHECKING:
    from ctcocr.synth import SynthConfig


def _synth_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--length", type=parse_range, default=(4, 6), help="text length A-B")
    parser.add_argument("--charset", help="characters (synth default: digits + upper case)")
    parser.add_argument("--size", type=parse_size, default=(128, 64), help="image size WxH")


def _parser() -> argparse.ArgumentParser:
    from ctcocr.config import ModelConfig, TrainConfig
    from ctcocr.data import DEFAULT_LABEL_PATTERN
    from ctcocr.options import add_fields

    parser = argparse.ArgumentParser(prog="ctcocr", description="Read short text in images.")
    parser.add_argument("--version", action="version", version=f"ctcocr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a folder of synthetic CAPTCHAs")
    synth.add_argument("out", type=Path, help="new dataset folder")
    synth.add_argument("--count", type=int, default=1000, help="number of images")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same images")
    _synth_flags(synth)

    train = commands.add_parser("train", help="train a recognizer")
    train.add_argument("data", type=Path, nargs="?", help="dataset folder, CSV, or image folder")
    train.add_argument("--synthetic", action="store_true", help="train on endless CAPTCHAs")
    train.add_argument("--out", type=Path, required=True, help="run folder to write")
    train.add_argument("--val", type=Path, help="validation data (default: hold out a share)")
    train.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    train.add_argument("--init", type=Path, help="start from this run's weights (fine-tune)")
    train.add_argument(
        "--label-pattern",
        default=DEFAULT_LABEL_PATTERN,
        help="regex with (?P<label>...) for label-named image files",
    )
    train.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 gray, 3 RGB")
    train.add_argument(
        "--resize",
        choices=("stretch", "pad"),
        default="stretch",
        help="how images meet the input size",
    )
    _synth_flags(train)
    add_fields(train, ModelConfig, rename={"architecture": "model"})
    add_fields(train, TrainConfig)

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model", type=Path, help="run folder")
    evaluate.add_argument("data", type=Path, help="dataset folder, CSV, or image folder")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)
    evaluate.add_argument("--ignore-case", action="store_true", help="compare in lower case")

    predict = commands.add_parser("predict", help="read the text in images")
    predict.add_argument("model", type=Path, help="run folder")
    predict.add_argument("images", type=Path, nargs="+", help="image files or folders")
    predict.add_argument("--json", action="store_true", help="print a JSON list")

    _augment_preview_parser(commands, DEFAULT_LABEL_PATTERN)

    demo = commands.add_parser("demo", help="synthesise, train, evaluate and show, in minutes")
    demo.add_argument("--out", type=Path, default=Path("ctcocr-demo"), help="output folder")
    demo.add_argument("--minutes", type=float, default=5.0, help="training time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CtcocrError as error:
        print(f"ctcocr {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130


def cmd_synth(args: argparse.Namespace) -> int:
    from ctcocr.synth import write_dataset

    config = _synth_config(args)
    write_dataset(args.out, args.count, config, args.seed)
    print(f"wrote {args.count} images and labels.csv to {args.out}")
    return 0


def _synth_config(args: argparse.Namespace) -> SynthConfig:
    from ctcocr.synth import SynthConfig

    extra = {"charset": args.charset} if args.charset else {}
    (low, high), (width, height) = args.length, args.size
    return SynthConfig(width=width, height=height, min_length=low, max_length=high, **extra)


def cmd_train(args: argparse.Namespace) -> int:
    from ctcocr.commands import train_command

    return train_command(args, _synth_config(args) if args.synthetic else None)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ctcocr.commands import evaluate_command

    result = evaluate_command(args.model, args.data, args.label_pattern, args.ignore_case)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{result['count']} images")
    print(f"sequence accuracy   {result['sequence_accuracy']:.2%}")
    print(f"character accuracy  {result['character_accuracy']:.2%}")
    for length, row in result["per_length"].items():
        print(f"  length {length}: {row['sequence_accuracy']:.2%} of {row['count']}")
    for miss in result["errors"][:10]:
        print(f"  {miss['path']}: read {miss['text']!r}, label {miss['label']!r}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ctcocr.recognizer import Recognizer

    paths = _image_files(args.images)
    reader = Recognizer(args.model)
    rows = [
        {"path": str(path), **prediction.to_dict()}
        for path, prediction in zip(paths, reader.predict_batch(paths), strict=True)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['path']}\t{row['text']}\t{row['confidence']:.3f}")
    return 0


def _image_files(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = image_files(item)
            if not found:
                raise DataError(f"{item}: no images in this folder")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return files


def cmd_demo(args: argparse.Namespace) -> int:
    from ctcocr.demo import run_demo

    run_demo(args.out, args.minutes)
    return 0


# --- augment-preview ------------------------------------------------------------------------


def _augment_preview_parser(commands: argparse._SubParsersAction, pattern: str) -> None:
    preview = commands.add_parser("augment-preview", help="draw augmented training images")
    preview.add_argument("data", type=Path, help="dataset folder, CSV, TSV or image folder")
    preview.add_argument("--out", type=Path, required=True, help="PNG file to write")
    preview.add_argument("--rows", type=int, default=8, help="images shown, one per row")
    preview.add_argument("--variants", type=int, default=5, help="augmented copies per image")
    preview.add_argument("--augment-strength", type=float, default=1.0, help="as in train")
    preview.add_argument("--seed", type=int, default=0, help="same seed, same picture")
    preview.add_argument("--label-pattern", default=pattern)


def cmd_augment_preview(args: argparse.Namespace) -> int:
    from ctcocr.augment import AugmentConfig, preview
    from ctcocr.data import read_samples
    from ctcocr.images import load_image
    from ctcocr.runs import write_atomic

    samples = read_samples(args.data, args.label_pattern)[: max(1, args.rows)]
    config = AugmentConfig().scaled(args.augment_strength)
    images = [load_image(s.path) for s in samples]
    grid = preview(images, [s.label for s in samples], config, args.variants, args.seed)
    write_atomic(args.out, lambda tmp: grid.save(tmp, format="PNG"))
    print(f"wrote {args.out}: {len(samples)} images, original then {args.variants} variants each")
    return 0


COMMANDS = {
    "augment-preview": cmd_augment_preview,
    "synth": cmd_synth,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "demo": cmd_demo,
}
