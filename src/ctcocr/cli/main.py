"""The `ctcocr` command: synth, train, evaluate, predict and demo here; calibrate, explain,
compare, augment-preview, pack, export, verify and serve in cli_tools.py.

Thin by design: it parses flags (derived from the config dataclasses), calls the package and
prints. Errors of the package become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ctcocr.cli.flags import (
    decode_flags,
    decode_options,
    image_paths,
    split_model,
    synth_config,
    synth_flags,
    training_flags,
)
from ctcocr.cli.tools import TOOL_COMMANDS, add_tool_parsers
from ctcocr.core.errors import CtcocrError
from ctcocr.core.version import __version__


def _parser() -> argparse.ArgumentParser:
    from ctcocr.data.samples import DEFAULT_LABEL_PATTERN

    parser = argparse.ArgumentParser(prog="ctcocr", description="Read short text in images.")
    parser.add_argument("--version", action="version", version=f"ctcocr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a folder of synthetic CAPTCHAs")
    synth.add_argument("out", type=Path, help="new dataset folder")
    synth.add_argument("--count", type=int, default=1000, help="number of images")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same images")
    synth_flags(synth)

    train = commands.add_parser("train", help="train a recognizer")
    training_flags(train)
    train.add_argument("--out", type=Path, required=True, help="run folder to write")
    train.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    train.add_argument("--init", type=Path, help="start from this run's weights (fine-tune)")

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model", type=Path, help="run folder or .onnx file")
    evaluate.add_argument("data", type=Path, help="dataset folder, CSV, or image folder")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)
    evaluate.add_argument("--ignore-case", action="store_true", help="compare in lower case")
    evaluate.add_argument("--plot", type=Path, metavar="FILE", help="draw confidence to a PNG")
    decode_flags(evaluate)
    evaluate.add_argument("--report", type=Path, metavar="DIR", help="write report.html there")
    evaluate.add_argument(
        "--report-explain",
        type=int,
        default=6,
        metavar="N",
        help="failures that get the CTC alignment view in the report (default: 6)",
    )

    predict = commands.add_parser("predict", help="read the text in images")
    predict.add_argument(
        "images",
        type=Path,
        nargs="+",
        metavar="[MODEL] IMAGE",
        help="a run folder or .onnx file (default: the shipped model), then images or folders",
    )
    predict.add_argument("--json", action="store_true", help="print a JSON list")
    decode_flags(predict)

    demo = commands.add_parser("demo", help="synthesise, train, evaluate and show, in minutes")
    demo.add_argument("--out", type=Path, default=Path("ctcocr-demo"), help="output folder")
    demo.add_argument("--minutes", type=float, default=5.0, help="training time")
    add_tool_parsers(commands)
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
    from ctcocr.data.synth import write_dataset

    config = synth_config(args)
    write_dataset(args.out, args.count, config, args.seed)
    print(f"wrote {args.count} images and labels.csv to {args.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ctcocr.training.command import train_command

    return train_command(args, synth_config(args) if args.synthetic else None)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ctcocr.evaluation.evaluate import evaluate_command

    decoding = decode_options(args)
    if args.report is not None:  # the report's metrics hold everything evaluate prints
        from ctcocr.evaluation.report import REPORT_HTML, ReportOptions, write_report

        shown = ReportOptions(explain=args.report_explain)
        result = write_report(
            args.model,
            args.data,
            args.report,
            args.label_pattern,
            shown,
            decoding,
            args.plot,
            args.ignore_case,
        )
        print(f"report in {args.report / REPORT_HTML}", file=sys.stderr)
    else:
        result = evaluate_command(
            args.model, args.data, args.label_pattern, decoding, args.plot, args.ignore_case
        )
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
    from ctcocr.cli.text import format_confidence

    print("\n".join(format_confidence(result["confidence"], decoding.min_confidence)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ctcocr.runtime.recognizer import Recognizer

    model, images = split_model(args.images)
    paths = image_paths(images)
    reader = Recognizer(model)
    predictions = reader.predict_batch(paths, options=decode_options(args))
    rows = [
        {"path": str(path), **prediction.to_dict()}
        for path, prediction in zip(paths, predictions, strict=True)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            mark = "\trejected" if row["rejected"] else ""
            print(f"{row['path']}\t{row['text']}\t{row['confidence']:.3f}{mark}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ctcocr.training.demo import run_demo

    run_demo(args.out, args.minutes)
    return 0


COMMANDS = {
    "synth": cmd_synth,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "demo": cmd_demo,
    **TOOL_COMMANDS,
}
