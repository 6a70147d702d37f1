"""The picture of a training run: loss, accuracy and learning-rate curves (`training.png`).

Matplotlib is imported lazily inside `plot_training_curves`, so importing this module is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctcocr.core.errors import DataError
from ctcocr.core.run_folder import write_atomic

Row = dict[str, Any]
# (title, y label, ((metrics key, legend label or None), ...)) for each of the three panels
PANELS = (
    ("CTC loss", "loss", (("train_loss", "train"), ("val_loss", "validation"))),
    ("validation accuracy", "accuracy",
     (("sequence_accuracy", "sequence"), ("character_accuracy", "character"))),
    ("learning rate", "lr", (("lr", None),)),
)  # fmt: skip


def plot_training_curves(metrics_path: Path, out_path: Path) -> Path:
    """Draw loss, validation accuracy and learning rate per epoch from a metrics.jsonl file.

    Each line of `metrics_path` is one epoch's JSON object (keys such as "epoch", "train_loss",
    "val_loss", "sequence_accuracy", "character_accuracy", "lr"); keys missing on a line are
    skipped. Writes one PNG with three panels to `out_path` atomically and returns `out_path`.
    Raises `DataError` (a `ValueError`) if the file is unreadable, holds no records,
    or a line is not a JSON object.
    """
    metrics_path = Path(metrics_path)
    rows = read_rows(metrics_path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    try:
        _draw_panels(axes, rows)
        fig.suptitle(f"{metrics_path.name}: {_best_title(rows)}")
        fig.tight_layout()
        write_atomic(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=100))
        return Path(out_path)
    finally:
        plt.close(fig)


def read_rows(metrics_path: Path) -> list[Row]:
    """The epochs of a metrics.jsonl file, one dict each; DataError naming the line if bad."""
    try:
        text = metrics_path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{metrics_path}: cannot read metrics file ({error.strerror})") from None
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{metrics_path}:{number}: not a JSON object ({error.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{metrics_path}:{number}: expected a JSON object per line")
        rows.append(row)
    if not rows:
        raise DataError(f"{metrics_path}: no epochs recorded; the metrics file is empty")
    return rows


def series(rows: list[Row], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of `key`, over the rows that hold it."""
    pairs = [
        (float(row.get("epoch", index)), float(row[key]))
        for index, row in enumerate(rows, 1)
        if row.get(key) is not None
    ]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _draw_panels(axes: Any, rows: list[Row]) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    for ax, (title, ylabel, keys) in zip(axes, PANELS, strict=True):
        for key, label in keys:
            xs, ys = series(rows, key)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if any(label for key, label in keys if series(rows, key)[0]):
            ax.legend()
    ax_loss, ax_acc, ax_lr = axes
    if any(y > 0 for key in ("train_loss", "val_loss") for y in series(rows, key)[1]):
        ax_loss.set_yscale("log")
    ax_acc.set_ylim(0.0, 1.0)
    ax_acc.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if not series(rows, "sequence_accuracy")[0]:  # nothing held out (a few images, fine-tuned)
        ax_acc.set_xlim(ax_loss.get_xlim())
        ax_acc.text(
            0.5, 0.5, "no images held out:\nthe last epoch is kept",
            transform=ax_acc.transAxes, ha="center", va="center", color="0.4",
        )  # fmt: skip
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))


def _best_title(rows: list[Row]) -> str:
    xs, ys = series(rows, "sequence_accuracy")
    if not ys:
        return "no validation sequence accuracy (no images held out: the last epoch is kept)"
    best = max(range(len(ys)), key=ys.__getitem__)
    return f"best sequence accuracy {ys[best]:.2%} at epoch {xs[best]:g}"
