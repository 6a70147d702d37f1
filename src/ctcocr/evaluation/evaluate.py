"""`ctcocr evaluate MODEL DATA`: read labelled images, score the readings and their confidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ctcocr.data.samples import Sample, fold_case, read_samples
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.decoding.prediction import Prediction
from ctcocr.evaluation.calibration import coverage_table, expected_calibration_error
from ctcocr.evaluation.scores import score
from ctcocr.runtime.recognizer import Recognizer


def evaluate_command(
    model: Path,
    data: Path,
    label_pattern: str,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
) -> dict[str, Any]:
    """Score a model on labelled data -> a JSON-ready dict (count, accuracies, errors, and
    how well its confidence predicts a right reading, before and after its temperature).

    Labels and predictions are lower-cased when asked, or when the model was trained so."""
    reader = Recognizer(model)
    samples = read_samples(data, label_pattern)
    result, _ = score_samples(reader, samples, data, options, plot, ignore_case)
    return result


def score_samples(
    reader: Recognizer,
    samples: Sequence[Sample],
    data: Path,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
) -> tuple[dict[str, Any], list[Prediction]]:
    """Read `samples` and score them -> (what `evaluate --json` prints, the predictions)."""
    ignore_case = ignore_case or bool(
        reader.spec.training.get("config", {}).get("ignore_case", False)
    )  # a model trained on folded labels is scored on folded labels
    if ignore_case:
        samples = fold_case(samples)
    labels = [s.label for s in samples]
    predictions, raw = read_twice(reader, [s.path for s in samples], options)
    if ignore_case:
        predictions, raw = _lower(predictions), _lower(raw)
    result = score(labels, [p.text for p in predictions]).to_dict()
    result["model"] = str(reader.path)
    result["data"] = str(data)
    result["ignore_case"] = ignore_case
    result["decoding"] = (options or DecodeOptions()).to_dict()
    result["confidence"] = {
        "temperature": reader.spec.temperature,
        **confidence_summary(labels, predictions, raw),
    }
    if plot is not None:
        from ctcocr.evaluation.confidence_plot import plot_confidence

        plot_confidence(labels, predictions, raw, reader.spec.temperature, plot)
    result["errors"] = [
        {"path": str(s.path), "label": s.label, "text": p.text, "confidence": p.confidence}
        for s, p in zip(samples, predictions, strict=True)
        if s.label != p.text
    ]
    return result, predictions


def _lower(predictions: list[Prediction]) -> list[Prediction]:
    return [replace(p, text=p.text.lower()) for p in predictions]


def read_twice(
    reader: Recognizer,
    paths: Sequence[Path],
    options: DecodeOptions | None = None,
    batch_size: int = 64,
) -> tuple[list[Prediction], list[Prediction]]:
    """From one forward pass: predictions with the model's temperature, and with none (1.0)."""
    calibrated: list[Prediction] = []
    raw: list[Prediction] = []
    for start in range(0, len(paths), batch_size):
        logits = reader.logits(paths[start : start + batch_size])
        calibrated += reader.decode(logits, options)
        same = reader.spec.temperature == 1.0
        raw += calibrated[-len(logits) :] if same else reader.decode(logits, options, 1.0)
    return calibrated, raw


def confidence_summary(
    labels: Sequence[str], calibrated: Sequence[Prediction], raw: Sequence[Prediction]
) -> dict[str, Any]:
    """ECE before and after temperature, and accuracy against coverage (after)."""
    right = np.array([p.text == t for p, t in zip(calibrated, labels, strict=True)])
    raw_right = np.array([p.text == t for p, t in zip(raw, labels, strict=True)])
    confidences = np.array([p.confidence for p in calibrated])
    raw_confidences = np.array([p.confidence for p in raw])
    accepted = np.array([not p.rejected for p in calibrated])
    return {
        "ece_before": expected_calibration_error(raw_confidences, raw_right),
        "ece_after": expected_calibration_error(confidences, right),
        "coverage": coverage_table(confidences, right),
        "rejected": int((~accepted).sum()),
        "accepted_accuracy": float(right[accepted].mean()) if accepted.any() else 0.0,
    }
