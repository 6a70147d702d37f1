"""Pictures of a training run: loss and accuracy curves, and a grid of predictions.

Matplotlib is imported lazily inside `plot_training_curves`, so importing this module is cheap
and `prediction_grid` (pure Pillow) works without matplotlib installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ctcocr.core.errors import DataError
from ctcocr.core.run_folder import write_atomic


def _saved(out_path: Path, save: Callable[[Path], None]) -> Path:
    write_atomic(Path(out_path), save)
    return Path(out_path)


def plot_training_curves(metrics_path: Path, out_path: Path) -> Path:
    """Draw loss, validation accuracy and learning rate per epoch from a metrics.jsonl file.

    Each line of `metrics_path` is one epoch's JSON object (keys such as "epoch", "train_loss",
    "val_loss", "sequence_accuracy", "character_accuracy", "lr"); keys missing on a line are
    skipped. Writes one PNG with three panels to `out_path` atomically and returns `out_path`.
    Raises `DataError` (a `ValueError`) if the file is unreadable, holds no records,
    or a line is not a JSON object.
    """
    metrics_path = Path(metrics_path)
    try:
        text = metrics_path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{metrics_path}: cannot read metrics file ({error.strerror})") from None
    rows: list[dict] = []
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

    def series(key: str) -> tuple[list[float], list[float]]:
        pairs = [
            (float(row.get("epoch", index)), float(row[key]))
            for index, row in enumerate(rows, 1)
            if row.get(key) is not None
        ]
        return [x for x, _ in pairs], [y for _, y in pairs]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(15, 4.5))
    try:
        panels = (
            (ax_loss, "CTC loss", "loss", (("train_loss", "train"), ("val_loss", "validation"))),
            (ax_acc, "validation accuracy", "accuracy",
             (("sequence_accuracy", "sequence"), ("character_accuracy", "character"))),
            (ax_lr, "learning rate", "lr", (("lr", None),)),
        )  # fmt: skip
        for ax, title, ylabel, keys in panels:
            for key, label in keys:
                xs, ys = series(key)
                if xs:
                    ax.plot(xs, ys, marker="o", markersize=3, label=label)
            ax.set(title=title, xlabel="epoch", ylabel=ylabel)
            ax.grid(True, alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if any(label for key, label in keys if series(key)[0]):
                ax.legend()
        if any(y > 0 for key in ("train_loss", "val_loss") for y in series(key)[1]):
            ax_loss.set_yscale("log")
        ax_acc.set_ylim(0.0, 1.0)
        ax_acc.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))

        xs, ys = series("sequence_accuracy")
        if ys:
            best = max(range(len(ys)), key=ys.__getitem__)
            title = f"best sequence accuracy {ys[best]:.2%} at epoch {xs[best]:g}"
        else:
            title = "no validation sequence accuracy recorded"
        fig.suptitle(f"{metrics_path.name}: {title}")
        fig.tight_layout()
        return _saved(out_path, lambda tmp: fig.savefig(tmp, dpi=100))
    finally:
        plt.close(fig)


def prediction_grid(
    images: list[Image.Image],
    truths: list[str],
    predictions: list[str],
    out_path: Path,
    columns: int = 4,
    confidences: list[float] | None = None,
) -> Path:
    """Lay `images` out in a grid with "truth:" and "pred:" under each; write a PNG atomically.

    Each image is scaled to a 192 px wide cell, keeping its aspect ratio. The prediction line is
    dark green when it equals the truth and red otherwise, followed by " (97%)" when
    `confidences` (0..1) is given. Returns `out_path`. Raises `ValueError` if the lists are
    empty or differ in length, or if `columns` is below 1.
    """
    count = len(images)
    lengths = {count, len(truths), len(predictions)}
    if confidences is not None:
        lengths.add(len(confidences))
    if len(lengths) != 1:
        raise ValueError(f"prediction_grid: the lists must have the same length, got {lengths}")
    if count == 0:
        raise ValueError("prediction_grid: no images given")
    if columns < 1:
        raise ValueError(f"prediction_grid: columns must be at least 1, got {columns}")

    cell_w, pad, line_h = 192, 6, 18
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:
        font = ImageFont.load_default()
    scaled = [
        image.convert("RGB").resize(
            (cell_w, max(1, round(image.height * cell_w / max(1, image.width)))),
            Image.Resampling.LANCZOS,
        )
        for image in images
    ]
    columns = min(columns, count)
    rows = [scaled[start : start + columns] for start in range(0, count, columns)]
    image_heights = [max(im.height for im in row) for row in rows]
    row_tops = [pad + sum(image_heights[:r]) + r * (2 * line_h + 2 * pad) for r in range(len(rows))]
    size = (columns * (cell_w + pad) + pad, row_tops[-1] + image_heights[-1] + 2 * line_h + pad)
    canvas = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(canvas)
    for index, image in enumerate(scaled):
        r, c = divmod(index, columns)
        x, y = pad + c * (cell_w + pad), row_tops[r]
        canvas.paste(image, (x, y))
        draw.rectangle((x - 1, y - 1, x + cell_w, y + image.height), outline=(200, 200, 200))
        suffix = "" if confidences is None else f" ({confidences[index]:.0%})"
        colour = (0, 120, 0) if predictions[index] == truths[index] else (200, 0, 0)
        lines = [
            (f"truth: {truths[index]}", (0, 0, 0)),
            (f"pred: {predictions[index]}{suffix}", colour),
        ]
        for number, (text, fill) in enumerate(lines):
            xy = (x, y + image_heights[r] + pad // 2 + number * line_h)
            try:
                draw.text(xy, text, fill=fill, font=font)
            except UnicodeEncodeError:  # a bitmap font that cannot encode these characters
                draw.text(xy, text.encode("ascii", "replace").decode(), fill=fill, font=font)
    return _saved(out_path, lambda tmp: canvas.save(tmp, format="PNG"))
