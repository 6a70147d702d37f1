"""The `ctcocr` command: synth, train, evaluate, predict and demo here; calibrate, explain,
compare, augment-preview, pack, export, verify and serve in cli_tools.py.

Thin by design: it parses flags (derived from the config dataclasses), calls the package and
prints. Errors of the package become one line on stderr and exit status 2; `predict` exits
with 1 when some of its images could not be read (the others are still read).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    train.add_argument(
        "--init",
        help="start from this run's weights (fine-tune), or a shipped model's: general, "
        "general-fast (default: general, when it reads every character of the data; see "
        "--no-init)",
    )

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model", type=Path, help="run folder or .onnx file")
    evaluate.add_argument("data", type=Path, help="dataset folder, CSV, or image folder")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)
    evaluate.add_argument("--ignore-case", action="store_true", help="compare in lower case")
    evaluate.add_argument(
        "--skip-bad", action="store_true", help="score the readable images, leaving out bad ones"
    )
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
        print(f"ctcocr {args.command}: error: {_printable(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130


def _printable(error: Exception) -> str:
    """The message as valid UTF-8: a file name that is not (held as surrogates) escaped."""
    return str(error).encode("utf-8", "backslashreplace").decode("utf-8")


def cmd_synth(args: argparse.Namespace) -> int:
    from ctcocr.core.run_folder import check_out
    from ctcocr.data.synth import write_dataset

    check_out(args.out, folder=True, flag="")
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
            args.skip_bad,
        )
        print(f"report in {args.report / REPORT_HTML}", file=sys.stderr)
    else:
        result = evaluate_command(
            args.model,
            args.data,
            args.label_pattern,
            decoding,
            args.plot,
            args.ignore_case,
            args.skip_bad,
        )
    for warning in result.get("warnings", []):
        print(f"ctcocr evaluate: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{result['count']} images")
    print(f"sequence accuracy   {result['sequence_accuracy']:.2%}")
    print(f"character accuracy  {result['character_accuracy']:.2%}")
    for length, row in result["per_length"].items():
        print(f"  length {length}: {row['sequence_accuracy']:.2%} of {row['count']}")
    if "answers" in result:
        answers = result["answers"]
        print(
            f"arithmetic answers  {answers['accuracy']:.2%} right; "
            f"{answers['parsed']} of {result['count']} readings parse"
        )
    for miss in result["errors"][:10]:
        print(f"  {miss['path']}: read {miss['text']!r}, label {miss['label']!r}")
    from ctcocr.cli.text import format_confidence

    print("\n".join(format_confidence(result["confidence"], decoding.min_confidence)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """A line (or JSON entry) per image; an unreadable one gets an error entry instead, and
    the exit status is 1 when any could not be read (2 when the only image given cannot).
    With --answer arithmetic, the answer follows the text; a reading that is not an
    expression is named on stderr (in --json: its `answer_error`) and also exits 1."""
    from ctcocr.core.errors import ImageError
    from ctcocr.data.samples import printable
    from ctcocr.runtime.recognizer import Recognizer

    model, images = split_model(args.images)
    paths = image_paths(images)
    reader = Recognizer(model)
    options = decode_options(args)
    results = reader.predict_each(paths, options=options)
    if len(results) == 1 and isinstance(results[0], ImageError):
        raise results[0]
    rows = [
        {"path": printable(path), "error": _printable(result)}
        if isinstance(result, ImageError)
        else {"path": printable(path), **result.to_dict()}
        for path, result in zip(paths, results, strict=True)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        _print_predictions(rows, answer=options.answer is not None)
    return _predict_status(rows)


def _print_predictions(rows: list[dict[str, Any]], answer: bool) -> None:
    """predict's text output: a line per reading on stdout; on stderr, a line per image that
    could not be read, or whose reading has no answer, saying why."""
    from ctcocr.cli.text import prediction_line

    for row in rows:
        if "error" in row:
            print(f"ctcocr predict: error: {row['error']}", file=sys.stderr)
            continue
        print(prediction_line(row, answer))
        if row.get("answer_error"):
            print(
                f"ctcocr predict: {row['path']}: no answer: {row['answer_error']}", file=sys.stderr
            )


def _predict_status(rows: list[dict[str, Any]]) -> int:
    """The summary lines on stderr -> predict's exit status: 1 when some image could not be
    read or, with --answer, has no answer; else 0."""
    failed = sum("error" in row for row in rows)
    if failed:
        print(f"ctcocr predict: {failed} of {len(rows)} images could not be read", file=sys.stderr)
    unanswered = sum(bool(row.get("answer_error")) for row in rows)
    if unanswered:
        print(
            f"ctcocr predict: {unanswered} of {len(rows)} readings are not arithmetic "
            "expressions: no answer",
            file=sys.stderr,
        )
    return 1 if failed or unanswered else 0


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
