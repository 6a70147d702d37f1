"""The CTC alignment view: what each of the T columns of an image read, and how that becomes text.

    model input, cut into T column regions; each region that emitted a character is shaded
    the best class of every step ('-' = blank): emitted characters bold, held repeats faint
    the collapse: merge repeats, drop blanks -> the text
    a heat map of the per-step class probabilities (steps x classes)

>>> from ctcocr import Recognizer
>>> view = explain(Recognizer("runs/captcha"), "2b827.png")
>>> write_explanation(view, "view.png", truth="2b827")
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ctcocr.core.charset import BLANK, Charset
from ctcocr.core.run_folder import write_atomic
from ctcocr.data.images import ImageInput, preprocess
from ctcocr.decoding.decoder import decode
from ctcocr.decoding.greedy import log_softmax
from ctcocr.decoding.prediction import Prediction

if TYPE_CHECKING:
    from ctcocr.runtime.recognizer import Recognizer

MAX_HEATMAP_ROWS = 48  # beyond this, only the classes that come closest to winning a step
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class Explanation:
    """One image as the model saw it and its per-step class probabilities."""

    pixels: np.ndarray  # the model input: (H, W) or (H, W, 3) uint8
    # (T, num_classes) at the model's temperature, each row sums to 1; class 0 = blank
    probabilities: np.ndarray
    charset: Charset

    @cached_property
    def best_path(self) -> list[int]:
        """The winning class of each time step, (T,)."""
        return [int(i) for i in self.probabilities.argmax(axis=1)]

    @cached_property
    def prediction(self) -> Prediction:
        """What `Recognizer.predict` reads: the same decoder, on the same (tempered) scores."""
        log_probabilities = np.log(np.maximum(self.probabilities, 1e-300))  # (T, C)
        return decode(log_probabilities[None], self.charset)[0]

    @property
    def text(self) -> str:
        return self.prediction.text

    def step_labels(self) -> list[str]:
        """The best class of each step as a character, blank as '-'."""
        return ["-" if i == BLANK else self.charset.chars[i - 1] for i in self.best_path]

    def emitting_steps(self) -> list[int]:
        """The steps whose class starts a new character: where each output character comes from."""
        path = self.best_path
        return [t for t, i in enumerate(path) if i != BLANK and (t == 0 or path[t - 1] != i)]


def explain(reader: Recognizer, image: ImageInput) -> Explanation:
    """Run one image through `reader` and keep everything the alignment view draws."""
    spec = reader.spec.preprocess
    model_input = preprocess(image, spec)  # (C, H, W) in [-1, 1]
    logits = reader.logits([image])  # (1, T, C); preprocesses the same way again
    pixels = np.clip((model_input + 1.0) * 127.5, 0, 255).astype(np.uint8)
    pixels = pixels[0] if spec.channels == 1 else pixels.transpose(1, 2, 0)
    # The model's temperature, as predict applies it, so the view shows predict's confidence
    scaled = logits[0].astype(np.float64) / reader.spec.temperature
    probabilities = np.exp(log_softmax(scaled))  # (T, C)
    return Explanation(pixels, probabilities, reader.spec.charset)


def write_explanation(
    explanation: Explanation, out_path: str | Path, truth: str | None = None, dpi: int = 100
) -> Path:
    """Draw the alignment view as a PNG at `out_path` (written atomically)."""
    data = explanation_png(explanation, truth, dpi)

    def write(temporary: Path) -> None:
        temporary.write_bytes(data)

    write_atomic(Path(out_path), write)
    return Path(out_path)


def explanation_png(explanation: Explanation, truth: str | None = None, dpi: int = 100) -> bytes:
    """The alignment view as PNG bytes (for embedding in a report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = _figure(explanation, truth)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _heatmap_classes(explanation: Explanation) -> list[int]:
    """Class indices to show as heat-map rows: all of them, or the strongest if there are many."""
    count = explanation.probabilities.shape[1]
    if count <= MAX_HEATMAP_ROWS:
        return list(range(count))
    shown = {BLANK, *explanation.best_path}  # every step's winner is on the map
    peak = explanation.probabilities.max(axis=0)  # (C,) each class's best step
    for index in np.argsort(-peak).tolist():
        if len(shown) >= MAX_HEATMAP_ROWS:
            break
        shown.add(index)
    return sorted(shown)


def _figure(explanation: Explanation, truth: str | None) -> Any:
    import matplotlib.pyplot as plt

    steps = explanation.probabilities.shape[0]
    height, width = explanation.pixels.shape[:2]
    classes = _heatmap_classes(explanation)
    plot_w = 8.0  # inches for the image, the step row and the heat map, which share one x axis
    heights = [plot_w * height / width, 0.9, max(1.6, 0.16 * len(classes))]
    top, bottom = 1.0, 0.55  # inches: the title and path above, the step axis below
    total = sum(heights) + top + bottom
    figure = plt.figure(figsize=(plot_w + 1.6, total))
    grid = figure.add_gridspec(
        3, 2, height_ratios=heights, width_ratios=[plot_w, 0.25], hspace=0.25 / total * 3,
        wspace=0.03, left=0.09, right=0.93, top=1 - top / total, bottom=bottom / total,
    )  # fmt: skip
    ax_image, ax_steps, ax_heat = (figure.add_subplot(grid[row, 0]) for row in range(3))
    _draw_input(ax_image, explanation, steps)
    _draw_steps(ax_steps, explanation, steps)
    image = _draw_heatmap(ax_heat, explanation, classes, steps)
    figure.colorbar(image, cax=figure.add_subplot(grid[2, 1]), label="probability")
    _title(figure, explanation, truth)
    return figure


def _colour_of_emission(explanation: Explanation) -> dict[int, str]:
    """Step -> colour for every non-blank step, the same colour for a character's whole run."""
    colours: dict[int, str] = {}
    path, number = explanation.best_path, -1
    for t, index in enumerate(path):
        if index == BLANK:
            continue
        if t == 0 or path[t - 1] != index:
            number += 1
        colours[t] = COLOURS[number % len(COLOURS)]
    return colours


def _draw_input(ax: Any, explanation: Explanation, steps: int) -> None:
    pixels = explanation.pixels
    cmap = "gray" if pixels.ndim == 2 else None
    ax.imshow(pixels, cmap=cmap, vmin=0, vmax=255, extent=(0, steps, pixels.shape[0], 0))
    ax.set_aspect("auto")
    for t, colour in _colour_of_emission(explanation).items():
        ax.axvspan(t, t + 1, color=colour, alpha=0.25 if t in explanation.emitting_steps() else 0.1)
    for t in range(1, steps):
        ax.axvline(t, color="#00a0c0", linewidth=0.6, alpha=0.6)
    ax.set(xlim=(0, steps), xticks=[], yticks=[])
    ax.set_ylabel("model input\nin T columns", fontsize=9)


def _draw_steps(ax: Any, explanation: Explanation, steps: int) -> None:
    colours, emitting = _colour_of_emission(explanation), set(explanation.emitting_steps())
    best = explanation.probabilities.max(axis=1)
    for t, label in enumerate(explanation.step_labels()):
        colour = colours.get(t, "#999999")
        weight = "bold" if t in emitting else "normal"
        alpha = 1.0 if t in emitting or label == "-" else 0.45
        ax.text(t + 0.5, 0.62, label, ha="center", va="center", fontsize=12, color=colour,
                weight=weight, alpha=alpha, family="monospace")  # fmt: skip
        ax.text(t + 0.5, 0.18, f"{best[t] * 100:.0f}", ha="center", va="center", fontsize=6,
                color="#555555")  # fmt: skip
    for t in range(1, steps):
        ax.axvline(t, color="#cccccc", linewidth=0.5)
    ax.set(xlim=(0, steps), ylim=(0, 1), xticks=[], yticks=[])
    ax.set_ylabel("best class\n(% prob.)", fontsize=9)


def _draw_heatmap(ax: Any, explanation: Explanation, classes: list[int], steps: int) -> Any:
    shown = explanation.probabilities[:, classes].T  # (rows, T)
    image = ax.imshow(
        shown, aspect="auto", cmap="magma_r", vmin=0.0, vmax=1.0,
        extent=(0, steps, len(classes), 0), interpolation="nearest",
    )  # fmt: skip
    names = ["blank" if c == BLANK else explanation.charset.chars[c - 1] for c in classes]
    ax.set_yticks([r + 0.5 for r in range(len(classes))], names, fontsize=7, family="monospace")
    every = 1 if steps <= 40 else 4
    ax.set_xticks([t + 0.5 for t in range(0, steps, every)], range(0, steps, every), fontsize=7)
    ax.set_xlabel("time step (one per column of the input)")
    total = explanation.probabilities.shape[1]
    shown_all = len(classes) == total
    ax.set_ylabel("class" if shown_all else f"class ({len(classes)} strongest of {total})")
    return image


def _title(figure: Any, explanation: Explanation, truth: str | None) -> None:
    path = " ".join(explanation.step_labels())
    read = f"read {explanation.text!r}"
    confidence = explanation.prediction.confidence
    verdict = "" if truth is None else (
        "  (correct)" if truth == explanation.text else f"  (truth {truth!r})"
    )  # fmt: skip
    figure.suptitle(f"{read}, confidence {confidence:.2f}{verdict}", fontsize=13, y=0.995)
    figure.text(
        0.5, 1 - 0.55 / figure.get_figheight(),
        f"best path: {path}\nmerge repeats, drop blanks (-)  ->  {explanation.text or '(nothing)'}",
        ha="center", va="top", fontsize=8, family="monospace",
    )  # fmt: skip
