"""`ctcocr evaluate MODEL DATA`: read labelled images, score the readings and their confidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ctcocr.core.errors import DataError, ExpressionError, ImageError
from ctcocr.core.run_folder import check_out
from ctcocr.data.images import open_readable
from ctcocr.data.samples import (
    Sample,
    check_not_empty,
    compile_label_pattern,
    fold_case,
    printable,
    read_samples,
)
from ctcocr.decoding.arithmetic import arithmetic_answer
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.decoding.prediction import Prediction
from ctcocr.evaluation.calibration import coverage_table, expected_calibration_error
from ctcocr.evaluation.scores import score
from ctcocr.runtime.recognizer import Recognizer

_LISTED = 20  # unreadable images named in an error


def evaluate_command(
    model: Path,
    data: Path,
    label_pattern: str,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Score a model on labelled data -> a JSON-ready dict (count, accuracies, errors, and
    how well its confidence predicts a right reading, before and after its temperature).

    Labels and predictions are lower-cased when asked, or when the model was trained so.
    Unreadable images stop it, all listed, unless `skip_bad` scores the readable ones."""
    if plot is not None:
        check_out(plot, folder=False, flag="--plot")
    compile_label_pattern(label_pattern)
    reader = Recognizer(model)
    samples = read_samples(data, label_pattern)
    result, _, _ = score_samples(reader, samples, data, options, plot, ignore_case, skip_bad)
    return result


def score_samples(
    reader: Recognizer,
    samples: Sequence[Sample],
    data: Path,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
    skip_bad: bool = False,
) -> tuple[dict[str, Any], list[Sample], list[Prediction]]:
    """Read `samples` and score them -> (what `evaluate --json` prints, the samples scored,
    their predictions).

    Empty labels are refused (an empty reading would count as right). An unreadable image
    raises DataError listing them all, unless `skip_bad`: then the samples scored are the
    readable ones, and `unreadable` in the result names the others. The samples scored are
    lower-cased when the labels were compared in lower case."""
    check_not_empty(samples)
    ignore_case = ignore_case or bool(
        reader.spec.training.get("config", {}).get("ignore_case", False)
    )  # a model trained on folded labels is scored on folded labels
    if ignore_case:
        samples = fold_case(samples)
    predictions, raw, failed = read_twice(reader, [s.path for s in samples], options)
    unreadable = [(samples[i].path, error) for i, error in sorted(failed.items())]
    if unreadable and not skip_bad:
        raise unreadable_error(unreadable)
    samples = [s for i, s in enumerate(samples) if i not in failed]
    if not samples:
        raise DataError(f"{printable(data)}: none of the images could be read: check the data")
    if ignore_case:
        predictions, raw = _lower(predictions), _lower(raw)
    labels = [s.label for s in samples]
    result = score(labels, [p.text for p in predictions]).to_dict()
    result["model"] = printable(reader.path)
    result["data"] = printable(data)
    result["ignore_case"] = ignore_case
    result["decoding"] = (options or DecodeOptions()).to_dict()
    if (options or DecodeOptions()).answer == "arithmetic":
        result["answers"] = answer_summary(labels, predictions)
    result["confidence"] = {
        "temperature": reader.spec.temperature,
        **confidence_summary(labels, predictions, raw),
    }
    missing, warnings = _unreadable_characters(labels, reader.charset, ignore_case)
    if unreadable:
        warnings.append(f"left out {len(unreadable)} unreadable image(s) (--skip-bad)")
    result["unreadable_characters"] = missing
    result["unreadable"] = [{"path": printable(p), "error": str(e)} for p, e in unreadable]
    result["warnings"] = warnings
    if plot is not None:
        from ctcocr.evaluation.confidence_plot import plot_confidence

        plot_confidence(labels, predictions, raw, reader.spec.temperature, plot)
    result["errors"] = [
        {"path": printable(s.path), "label": s.label, "text": p.text, "confidence": p.confidence}
        for s, p in zip(samples, predictions, strict=True)
        if s.label != p.text
    ]
    return result, samples, predictions


def unreadable_error(
    unreadable: Sequence[tuple[Path, ImageError]], rest: str = "score the others"
) -> DataError:
    """One DataError that lists the unreadable images and why, and names --skip-bad (which
    would `rest`)."""
    shown = "\n  ".join(str(error) for _, error in unreadable[:_LISTED])
    more = f"\n  and {len(unreadable) - _LISTED} more" if len(unreadable) > _LISTED else ""
    return DataError(
        f"{len(unreadable)} unreadable image(s); remove them, or pass --skip-bad to {rest}:"
        f"\n  {shown}{more}"
    )


def answer_summary(labels: Sequence[str], predictions: Sequence[Prediction]) -> dict[str, Any]:
    """With `--answer arithmetic`: how many readings parse as an expression, and how many
    give the label's value (a reading can be misread and still right, as `12+7=` for
    `12+7=?`; labels that are not expressions are never answered right)."""
    parsed = sum(p.answer is not None for p in predictions)
    right = sum(
        p.answer is not None and p.answer == _label_answer(label)
        for label, p in zip(labels, predictions, strict=True)
    )
    count = len(predictions)
    return {"parsed": parsed, "right": right, "accuracy": right / count if count else 0.0}


def _label_answer(label: str) -> str | None:
    try:
        return arithmetic_answer(label)
    except ExpressionError:
        return None


def _unreadable_characters(
    labels: Sequence[str], charset: str, ignore_case: bool
) -> tuple[str, list[str]]:
    """Label characters the model can never output -> (those characters, warnings to show)."""
    produced = {c.lower() for c in charset} if ignore_case else set(charset)
    missing = "".join(sorted({c for label in labels for c in label} - produced))
    if not missing:
        return "", []
    hit = sum(1 for label in labels if any(c in missing for c in label))
    warning = (
        f"{hit} of {len(labels)} labels hold characters the model cannot produce "
        f"({missing!r}; it reads {charset!r}): they can never be read right"
    )
    if not ignore_case and {c.lower() for c in missing} <= {c.lower() for c in charset}:
        warning += "; they differ only in case: pass --ignore-case to compare in lower case"
    return missing, [warning]


def _lower(predictions: list[Prediction]) -> list[Prediction]:
    return [replace(p, text=p.text.lower()) for p in predictions]


def read_twice(
    reader: Recognizer,
    paths: Sequence[Path],
    options: DecodeOptions | None = None,
    batch_size: int = 64,
) -> tuple[list[Prediction], list[Prediction], dict[int, ImageError]]:
    """From one forward pass: predictions with the model's temperature, and with none (1.0),
    for the images that could be read; {index in paths: its ImageError} for the others."""
    calibrated: list[Prediction] = []
    raw: list[Prediction] = []
    failed: dict[int, ImageError] = {}
    for start in range(0, len(paths), batch_size):
        images, bad = open_readable(paths[start : start + batch_size])
        failed.update({start + i: error for i, error in bad.items()})
        logits = reader.logits(images)
        calibrated += reader.decode(logits, options)
        same = reader.spec.temperature == 1.0
        raw += (
            calibrated[len(calibrated) - len(logits) :]
            if same
            else reader.decode(logits, options, 1.0)
        )
    return calibrated, raw, failed


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
