"""`ctcocr compare DATA --models cnn,crnn --out DIR`: train each model alike, score them alike.

Every model is trained by `commands.train_command` with the same flags, data, seed and time
budget (only `--model` differs), into DIR/<model>/; then each is scored on the same test data
by `report.write_report` (DIR/<model>/report/). The result:

    DIR/compare.json  one row per model: accuracy, parameters, size, images/s, latency
    DIR/compare.md    the same as a markdown table
    DIR/curves.png    validation accuracy and loss of every model against training minutes

The test data is --test if given, else --val, else the held-out share of DATA (written as
DIR/heldout.csv), else (for --synthetic) TrainConfig.val_size fresh CAPTCHAs in DIR/test/.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path
from typing import Any

from ctcocr.core.config import TrainConfig
from ctcocr.core.config_flags import from_args
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import check_out, read_metrics, write_atomic, write_json
from ctcocr.data.synth import SynthConfig

ARCHITECTURES = ("cnn", "crnn")
TEST_SEED = 424_242_421  # far from the training and validation streams' seeds
COLUMNS = (
    ("model", "model", "{}"),
    ("sequence_accuracy", "sequence acc.", "{:.2%}"),
    ("character_accuracy", "character acc.", "{:.2%}"),
    ("parameters", "parameters", "{:,}"),
    ("train_images_per_s", "train img/s", "{:.0f}"),
    ("minutes", "minutes", "{:.1f}"),
    ("epochs", "epochs", "{}"),
    ("latency_ms", "batch-1 latency (ms)", "{:.2f}"),
    ("file_bytes", "size (MB)", "{:.2f}"),
)


def parse_models(text: str) -> list[str]:
    """'cnn,crnn' -> ['cnn', 'crnn'], checked."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in ARCHITECTURES]
    if unknown or not models or len(set(models)) != len(models):
        raise ConfigError(
            f"--models {text!r}: give distinct names from {', '.join(ARCHITECTURES)}, "
            "separated by commas"
        )
    return models


def compare_command(args: argparse.Namespace, synth: SynthConfig | None) -> dict[str, Any]:
    """Train and score each of `args.models` into `args.out`; returns what compare.json holds."""
    from ctcocr.evaluation.report import ReportOptions, write_report, write_text
    from ctcocr.training.command import train_command

    models, out = parse_models(args.models), Path(args.out)
    given = [Path(p) for p in (args.data, args.val, args.test) if p is not None]
    check_out(out, folder=True, data=given)  # before the first model trains
    config = from_args(TrainConfig, args)
    test = _test_data(args, synth, config, out)  # before training: a missing test set stops it
    for model in models:
        run_args = argparse.Namespace(**{**vars(args), "architecture": model, "out": out / model})
        train_command(run_args, synth)
    rows = []
    for model in models:
        print(f"scoring {model} on {test}")
        metrics = write_report(out / model, test, out / model / "report", args.label_pattern,
                               ReportOptions(gallery=12, explain=3))  # fmt: skip
        rows.append(_row(model, out / model, metrics))
    result = {
        "data": "synthetic" if synth is not None else str(args.data),
        "val": str(args.val) if args.val is not None else None,
        "test": str(test),
        "test_count": rows[0]["count"],
        "seed": config.seed,
        "max_minutes": config.max_minutes,
        "epochs": config.epochs,
        "models": rows,
    }
    write_json(out / "compare.json", result)
    table = markdown_table(rows)
    write_text(out / "compare.md", table)
    plot_curves({model: read_metrics(out / model) for model in models}, out / "curves.png")
    return result


def _row(model: str, run: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    epochs = read_metrics(run)
    speeds = [e["images_per_s"] for e in epochs if e.get("images_per_s")]
    return {
        "model": model,
        "count": metrics["count"],
        "sequence_accuracy": metrics["sequence_accuracy"],
        "character_accuracy": metrics["character_accuracy"],
        "parameters": metrics["model_info"]["parameters"],
        "file_bytes": metrics["model_info"]["file_bytes"],
        "train_images_per_s": statistics.median(speeds) if speeds else 0.0,
        "minutes": epochs[-1]["elapsed_s"] / 60 if epochs else 0.0,
        "epochs": len(epochs),
        "best_val_sequence_accuracy": max(
            (e["sequence_accuracy"] for e in epochs if "sequence_accuracy" in e), default=0.0
        ),
        "latency_ms": metrics["latency_ms"]["batch_1"],
        "run": str(run),
        "report": str(run / "report" / "report.html"),
    }


def _test_data(
    args: argparse.Namespace, synth: SynthConfig | None, config: TrainConfig, out: Path
) -> Path:
    if args.test is not None:
        return Path(args.test)
    if args.val is not None:
        print(f"no --test given: scoring on the validation data {args.val}")
        return Path(args.val)
    if synth is not None:
        from ctcocr.data.synth import write_dataset

        folder = out / "test"
        if not (folder / "labels.csv").is_file():
            write_dataset(folder, config.val_size, synth, seed=TEST_SEED + config.seed)
        return folder
    from ctcocr.training import prepare

    # The same seeded split train_command held out, so no model is scored on its training data.
    samples, _, _ = prepare.file_data(
        args.data, None, config, args.charset, args.label_pattern, log=lambda _: None
    )
    # (compare names each --model, so its runs train from scratch: not fine-tuning)
    _, held_out = prepare.held_out(samples, config, fine_tuning=False, log=lambda _: None)
    if not held_out:
        raise ConfigError(
            "--val-fraction 0 holds no image out to score the models on: give --test DATA, "
            "--val DATA or a --val-fraction above 0"
        )
    manifest = out / "heldout.csv"
    rows = [(str(s.path.resolve()), s.label) for s in held_out]
    write_atomic(manifest, lambda tmp: _write_manifest(tmp, rows))
    print(f"no --test or --val given: scoring on the {len(rows)} held-out images ({manifest})")
    return manifest


def _write_manifest(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, the columns of COLUMNS."""
    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = [
            form.format(row[key] / 1e6 if key == "file_bytes" else row[key])
            for key, _, form in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(runs: dict[str, list[dict[str, Any]]], out_path: Path) -> Path:
    """Validation sequence accuracy and loss of each run against training minutes, one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    figure, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    try:
        for model, epochs in runs.items():
            minutes = [e["elapsed_s"] / 60 for e in epochs]
            ax_acc.plot(minutes, [e["sequence_accuracy"] for e in epochs], marker="o",
                        markersize=3, label=model)  # fmt: skip
            ax_loss.plot(minutes, [e["val_loss"] for e in epochs], marker="o", markersize=3,
                         label=model)  # fmt: skip
        ax_acc.set(title="validation sequence accuracy", xlabel="training minutes", ylim=(0, 1))
        ax_acc.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax_loss.set(title="validation CTC loss", xlabel="training minutes", yscale="log")
        for ax in (ax_acc, ax_loss):
            ax.grid(True, alpha=0.3)
            ax.set_xlim(left=0)
            ax.legend()
        figure.tight_layout()
        write_atomic(Path(out_path), lambda tmp: figure.savefig(tmp, format="png", dpi=100))
        return Path(out_path)
    finally:
        plt.close(figure)
