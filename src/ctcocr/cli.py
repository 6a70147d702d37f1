"""The `ctcocr` command: synth, train, evaluate, predict, calibrate, demo, explain, compare,
pack, export, verify, serve, augment-preview.

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
from ctcocr.images import IMAGE_SUFFIXES
from ctcocr.options import parse_range, parse_size

if TYPE_CHECKING:
    from ctcocr.decoding import DecodeOptions
    from ctcocr.synth import SynthConfig


def _synth_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--length", type=parse_range, default=(4, 6), help="text length A-B")
    parser.add_argument("--charset", help="characters (synth default: digits + upper case)")
    parser.add_argument("--size", type=parse_size, default=(128, 64), help="image size WxH")


def _parser() -> argparse.ArgumentParser:
    from ctcocr.data import DEFAULT_LABEL_PATTERN

    parser = argparse.ArgumentParser(prog="ctcocr", description="Read short text in images.")
    parser.add_argument("--version", action="version", version=f"ctcocr {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a folder of synthetic CAPTCHAs")
    synth.add_argument("out", type=Path, help="new dataset folder")
    synth.add_argument("--count", type=int, default=1000, help="number of images")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same images")
    _synth_flags(synth)

    train = commands.add_parser("train", help="train a recognizer")
    _training_flags(train)
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
    _decode_flags(evaluate)
    # --- issue 6: see the model (report, explain, compare) ---
    evaluate.add_argument("--report", type=Path, metavar="DIR", help="write report.html there")
    evaluate.add_argument(
        "--report-explain",
        type=int,
        default=6,
        metavar="N",
        help="failures that get the CTC alignment view in the report (default: 6)",
    )
    explain = commands.add_parser("explain", help="draw what each time step of a model read")
    explain.add_argument("model", type=Path, help="run folder")
    explain.add_argument("image", type=Path, help="one image file")
    explain.add_argument("--out", type=Path, required=True, help="PNG to write")
    explain.add_argument("--label", help="the true text, shown beside the reading")
    compare = commands.add_parser("compare", help="train each model alike, then score them")
    _training_flags(compare, with_model=False)
    compare.add_argument("--models", default="cnn,crnn", help="architectures (default: cnn,crnn)")
    compare.add_argument("--test", type=Path, help="data to score on (default: --val, held out)")
    compare.add_argument("--out", type=Path, required=True, help="folder: a run per model, tables")
    compare.add_argument("--resume", action="store_true", help="continue killed runs in --out")
    # --- end issue 6 ---

    predict = commands.add_parser("predict", help="read the text in images")
    predict.add_argument(
        "images",
        type=Path,
        nargs="+",
        metavar="[MODEL] IMAGE",
        help="a run folder or .onnx file (default: the shipped model), then images or folders",
    )
    predict.add_argument("--json", action="store_true", help="print a JSON list")
    _decode_flags(predict)

    calibrate = commands.add_parser("calibrate", help="fit a model's confidence temperature")
    calibrate.add_argument("model", type=Path, help="run folder (its config.json is updated)")
    calibrate.add_argument("data", type=Path, help="labelled data the model was not trained on")
    calibrate.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)
    _decode_flags(calibrate)

    demo = commands.add_parser("demo", help="synthesise, train, evaluate and show, in minutes")
    demo.add_argument("--out", type=Path, default=Path("ctcocr-demo"), help="output folder")
    demo.add_argument("--minutes", type=float, default=5.0, help="training time")
    _pack_parser(commands)
    _deployment_parsers(commands)
    _augment_preview_parser(commands, DEFAULT_LABEL_PATTERN)
    return parser


def _training_flags(parser: argparse.ArgumentParser, with_model: bool = True) -> None:
    """What train reads: the data, its preprocessing, the model and training configuration."""
    from ctcocr.config import ModelConfig, TrainConfig
    from ctcocr.data import DEFAULT_LABEL_PATTERN
    from ctcocr.options import add_fields

    parser.add_argument(
        "data", type=Path, nargs="?", help="dataset folder, CSV, image folder, or packed shards"
    )
    parser.add_argument("--synthetic", action="store_true", help="train on endless CAPTCHAs")
    parser.add_argument("--val", type=Path, help="validation data (default: hold out a share)")
    parser.add_argument(
        "--label-pattern",
        default=DEFAULT_LABEL_PATTERN,
        help="regex with (?P<label>...) for label-named image files",
    )
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 gray, 3 RGB")
    parser.add_argument(
        "--resize",
        choices=("stretch", "pad"),
        default="stretch",
        help="how images meet the input size",
    )
    _synth_flags(parser)
    skip = frozenset() if with_model else frozenset({"architecture"})
    add_fields(parser, ModelConfig, skip=skip, rename={"architecture": "model"})
    add_fields(parser, TrainConfig)


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

    decoding = _decode_options(args)
    if args.report is not None:  # the report's metrics hold everything evaluate prints
        from ctcocr.report import REPORT_HTML, ReportOptions, write_report

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
    from ctcocr.calibration import format_confidence

    print("\n".join(format_confidence(result["confidence"], decoding.min_confidence)))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ctcocr.recognizer import Recognizer

    model, images = _split_model(args.images)
    paths = _image_files(images)
    reader = Recognizer(model)
    predictions = reader.predict_batch(paths, options=_decode_options(args))
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


def _split_model(paths: list[Path]) -> tuple[Path | None, list[Path]]:
    """`predict [MODEL] IMAGE...`: the first of several paths is the model unless it is an
    image or a folder of images; a lone path is read with the shipped model."""
    first = paths[0]
    is_run = first.is_dir() and (first / "config.json").is_file()
    if len(paths) == 1:
        if is_run or first.suffix.lower() == ".onnx":
            raise DataError(f"{first} is a model: name the images to read after it")
        return None, paths
    images_folder = first.is_dir() and not is_run and bool(image_files(first))
    if images_folder or first.suffix.lower() in IMAGE_SUFFIXES:
        return None, paths
    return first, paths[1:]


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


# --- decoding options and calibration ------------------------------------------------------


def _decode_flags(parser: argparse.ArgumentParser) -> None:
    from ctcocr.decoding import DecodeOptions
    from ctcocr.options import add_fields

    add_fields(parser, DecodeOptions, types={"length": parse_range, "lexicon": Path})


def _decode_options(args: argparse.Namespace) -> DecodeOptions:
    from ctcocr.decoding import DecodeOptions, read_lexicon
    from ctcocr.options import from_args

    lexicon = read_lexicon(args.lexicon) if args.lexicon is not None else None
    return from_args(DecodeOptions, args, lexicon=lexicon)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ctcocr.calibration import calibrate_run

    fit = calibrate_run(args.model, args.data, args.label_pattern, _decode_options(args))
    print(
        f"temperature {fit.temperature:.4g} fitted on {fit.count} images "
        f"(sequence accuracy {fit.accuracy:.2%}): calibration error {fit.ece_before:.2%} "
        f"at T = 1, {fit.ece_after:.2%} now; stored in {args.model / 'config.json'}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ctcocr.demo import run_demo

    run_demo(args.out, args.minutes)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ctcocr.explain import explain, write_explanation
    from ctcocr.recognizer import Recognizer

    view = explain(Recognizer(args.model), args.image)
    write_explanation(view, args.out, truth=args.label)
    print(f"read {view.text!r}; alignment view in {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ctcocr.compare import compare_command, markdown_table

    result = compare_command(args, _synth_config(args) if args.synthetic else None)
    print(markdown_table(result["models"]), end="")
    print(f"table, curves and reports in {args.out}/ (compare.json, compare.md, curves.png)")
    return 0


def _pack_parser(commands: argparse._SubParsersAction) -> None:
    from ctcocr.data import DEFAULT_LABEL_PATTERN

    pack = commands.add_parser("pack", help="write a dataset as shards for streaming (WebDataset)")
    pack.add_argument("data", type=Path, help="dataset folder, CSV, or image folder")
    pack.add_argument("out", type=Path, help="new folder for the shards and index.json")
    pack.add_argument("--shard-size", type=int, default=10_000, help="images per shard")
    pack.add_argument("--skip-bad", action="store_true", help="leave unreadable images out")
    pack.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)


def cmd_pack(args: argparse.Namespace) -> int:
    from ctcocr.packing import pack

    packed, skipped = pack(args.data, args.out, args.shard_size, args.skip_bad, args.label_pattern)
    left_out = f", left out {skipped} unreadable image(s)" if skipped else ""
    print(
        f"packed {packed.count} images into {len(packed.shards)} shard(s) in {args.out}{left_out}"
    )
    return 0


# --- deployment: export, verify, serve (issue 4) ---
def _deployment_parsers(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="write a run as one ONNX file")
    export.add_argument("run", type=Path, help="run folder")
    export.add_argument("out", type=Path, help="the .onnx file to write")
    export.add_argument(
        "--quantize",
        nargs="?",
        const="static",
        choices=("static", "dynamic", "fp16"),
        help="static (the default): int8 weights and activations calibrated on the run's "
        "data; dynamic: int8 weights; fp16: float16 weights, float32 arithmetic",
    )
    export.add_argument("--calibration", type=Path, help="images for static calibration")

    verify = commands.add_parser("verify", help="check an export against its PyTorch run")
    verify.add_argument("model", type=Path, help=".onnx file from `ctcocr export`")
    verify.add_argument("data", type=Path, help="labelled data to compare on")
    verify.add_argument("--run", type=Path, help="source run (default: the one recorded)")
    verify.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="points a quantized model may lose (default: 0.1)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")

    serve = commands.add_parser("serve", help="HTTP service and web page (the serve extra)")
    serve.add_argument("model", type=Path, nargs="?", help="run or .onnx (default: shipped)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-bytes", type=int, default=2_000_000, help="largest request body")


def cmd_export(args: argparse.Namespace) -> int:
    from ctcocr.export import export_onnx

    result = export_onnx(args.run, args.out, args.quantize or "none", args.calibration)
    kind = {"none": "float32", "fp16": "float16 weights"}.get(
        result.quantization, f"int8 ({result.quantization})"
    )
    print(f"wrote {result.path}: {result.size_bytes / 1e6:.2f} MB, {kind}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ctcocr.verify import verify

    report = verify(args.model, args.data, args.run, args.tolerance)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"{report.count} images, {report.quantization} quantization")
        print(f"largest logit difference  {report.max_logit_difference:.3g}")
        print(f"predictions that differ   {report.different_predictions}")
        print(
            f"sequence accuracy  torch {report.torch_accuracy:.2%}  onnx {report.onnx_accuracy:.2%}"
        )
        print("PASSED" if report.passed else "FAILED")
    return 0 if report.passed else 1


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ctcocr.serve import run_server
    except ImportError as exc:
        raise CtcocrError(
            f"the service needs the serve extra ({exc}): pip install 'ctcocr[serve]'"
        ) from exc

    run_server(args.model, args.host, args.port, args.max_bytes)
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
    "export": cmd_export,
    "verify": cmd_verify,
    "serve": cmd_serve,
    "augment-preview": cmd_augment_preview,
    "synth": cmd_synth,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "demo": cmd_demo,
    "calibrate": cmd_calibrate,
    "explain": cmd_explain,
    "compare": cmd_compare,
    "pack": cmd_pack,
}
