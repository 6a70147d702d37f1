"""The `ctcocr` subcommands beyond the core ones: calibrate, explain, compare,
augment-preview, pack, export, verify and serve. Thin, like cli.py: parse, call, print."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ctcocr.cli.audit_command import add_audit_parser, cmd_audit
from ctcocr.cli.flags import decode_flags, decode_options, synth_config, training_flags
from ctcocr.cli.styles_command import add_styles_parser, cmd_styles
from ctcocr.core.errors import CtcocrError


def add_tool_parsers(commands: argparse._SubParsersAction) -> None:
    """calibrate, explain, compare, augment-preview, pack, export, verify, serve."""
    from ctcocr.data.samples import DEFAULT_LABEL_PATTERN

    calibrate = commands.add_parser("calibrate", help="fit a model's confidence temperature")
    calibrate.add_argument("model", type=Path, help="run folder (its config.json is updated)")
    calibrate.add_argument("data", type=Path, help="labelled data the model was not trained on")
    calibrate.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)
    calibrate.add_argument(
        "--skip-bad", action="store_true", help="fit on the readable images, leaving out bad ones"
    )
    decode_flags(calibrate)

    explain = commands.add_parser("explain", help="draw what each time step of a model read")
    explain.add_argument("model", type=Path, help="run folder")
    explain.add_argument("image", type=Path, help="one image file")
    explain.add_argument("--out", type=Path, required=True, help="PNG to write")
    explain.add_argument("--label", help="the true text, shown beside the reading")
    compare = commands.add_parser("compare", help="train each model alike, then score them")
    training_flags(compare, with_model=False)
    compare.add_argument("--models", default="cnn,crnn", help="architectures (default: cnn,crnn)")
    compare.add_argument("--test", type=Path, help="data to score on (default: --val, held out)")
    compare.add_argument("--out", type=Path, required=True, help="folder: a run per model, tables")
    compare.add_argument("--resume", action="store_true", help="continue killed runs in --out")
    augment_preview_parser(commands, DEFAULT_LABEL_PATTERN)
    add_styles_parser(commands)
    pack_parser(commands)
    deployment_parsers(commands)
    add_audit_parser(commands)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ctcocr.evaluation.temperature import calibrate_run

    fit, skipped = calibrate_run(
        args.model, args.data, args.label_pattern, decode_options(args), args.skip_bad
    )
    if skipped:
        print(
            f"ctcocr calibrate: warning: left out {len(skipped)} unreadable image(s) (--skip-bad)",
            file=sys.stderr,
        )
    print(
        f"temperature {fit.temperature:.4g} fitted on {fit.count} images "
        f"(sequence accuracy {fit.accuracy:.2%}): calibration error {fit.ece_before:.2%} "
        f"at T = 1, {fit.ece_after:.2%} now; stored in {args.model / 'config.json'}"
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ctcocr.core.run_folder import check_out
    from ctcocr.evaluation.explain import explain, write_explanation
    from ctcocr.runtime.recognizer import Recognizer

    check_out(args.out, folder=False)
    view = explain(Recognizer(args.model), args.image)
    write_explanation(view, args.out, truth=args.label)
    print(f"read {view.text!r}; alignment view in {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ctcocr.training.compare import compare_command, markdown_table

    result = compare_command(args, synth_config(args) if args.synthetic else None)
    print(markdown_table(result["models"]), end="")
    print(f"table, curves and reports in {args.out}/ (compare.json, compare.md, curves.png)")
    return 0


def pack_parser(commands: argparse._SubParsersAction) -> None:
    from ctcocr.data.samples import DEFAULT_LABEL_PATTERN

    pack = commands.add_parser("pack", help="write a dataset as shards for streaming (WebDataset)")
    pack.add_argument("data", type=Path, help="dataset folder, CSV, or image folder")
    pack.add_argument("out", type=Path, help="new folder for the shards and index.json")
    pack.add_argument("--shard-size", type=int, default=10_000, help="images per shard")
    pack.add_argument("--skip-bad", action="store_true", help="leave unreadable images out")
    pack.add_argument("--label-pattern", default=DEFAULT_LABEL_PATTERN)


def cmd_pack(args: argparse.Namespace) -> int:
    from ctcocr.data.packing import pack

    packed, skipped = pack(args.data, args.out, args.shard_size, args.skip_bad, args.label_pattern)
    left_out = f", left out {skipped} unreadable image(s)" if skipped else ""
    print(
        f"packed {packed.count} images into {len(packed.shards)} shard(s) in {args.out}{left_out}"
    )
    return 0


def deployment_parsers(commands: argparse._SubParsersAction) -> None:
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
    serve.add_argument(
        "model",
        type=Path,
        nargs="?",
        help="run folder or .onnx (default: shipped), or a folder of them, each served by name",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-bytes", type=int, default=2_000_000, help="largest request body")
    serve.add_argument(
        "--default",
        metavar="NAME",
        help="with a folder: the model of /v1/recognize (default: the only one)",
    )
    serve.add_argument(
        "--reload-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="with a folder: look for changed models at most this often (0: never)",
    )


def cmd_export(args: argparse.Namespace) -> int:
    from ctcocr.export.onnx_export import export_onnx

    result = export_onnx(args.run, args.out, args.quantize or "none", args.calibration)
    kind = {"none": "float32", "fp16": "float16 weights"}.get(
        result.quantization, f"int8 ({result.quantization})"
    )
    print(f"wrote {result.path}: {result.size_bytes / 1e6:.2f} MB, {kind}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ctcocr.export.verify import verify

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
        from ctcocr.serve.server import run_server
    except ImportError as exc:
        raise CtcocrError(
            f"the service needs the serve extra ({exc}): pip install 'ctcocr[serve]'"
        ) from exc

    try:
        run_server(
            args.model, args.host, args.port, args.max_bytes, args.default, args.reload_interval
        )
    except KeyboardInterrupt:  # uvicorn stops gracefully, then passes the Ctrl+C on
        print("ctcocr serve: stopped", file=sys.stderr)
        return 130
    return 0


def augment_preview_parser(commands: argparse._SubParsersAction, pattern: str) -> None:
    preview = commands.add_parser("augment-preview", help="draw augmented training images")
    preview.add_argument("data", type=Path, help="dataset folder, CSV, TSV or image folder")
    preview.add_argument("--out", type=Path, required=True, help="PNG file to write")
    preview.add_argument("--rows", type=int, default=8, help="images shown, one per row")
    preview.add_argument("--variants", type=int, default=5, help="augmented copies per image")
    preview.add_argument("--augment-strength", type=float, default=1.0, help="as in train")
    preview.add_argument("--seed", type=int, default=0, help="same seed, same picture")
    preview.add_argument("--label-pattern", default=pattern)


def cmd_augment_preview(args: argparse.Namespace) -> int:
    from ctcocr.core.run_folder import check_out, write_atomic
    from ctcocr.data.augment import AugmentConfig, preview
    from ctcocr.data.images import load_image
    from ctcocr.data.samples import read_samples

    check_out(args.out, folder=False)
    samples = read_samples(args.data, args.label_pattern)[: max(1, args.rows)]
    config = AugmentConfig().scaled(args.augment_strength)
    images = [load_image(s.path) for s in samples]
    grid = preview(images, [s.label for s in samples], config, args.variants, args.seed)
    write_atomic(args.out, lambda tmp: grid.save(tmp, format="PNG"))
    print(f"wrote {args.out}: {len(samples)} images, original then {args.variants} variants each")
    return 0


TOOL_COMMANDS = {
    "calibrate": cmd_calibrate,
    "explain": cmd_explain,
    "compare": cmd_compare,
    "augment-preview": cmd_augment_preview,
    "styles": cmd_styles,
    "pack": cmd_pack,
    "export": cmd_export,
    "verify": cmd_verify,
    "serve": cmd_serve,
    "audit": cmd_audit,
}
