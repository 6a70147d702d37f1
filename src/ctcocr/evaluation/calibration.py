"""Confidence you can act on: temperature scaling, calibration error, accuracy against coverage.

A network trained with CTC is usually over- or under-confident: of the texts it reads with
confidence 0.9, far more or fewer than 90% are right. Temperature scaling divides the logits
by one number T, fitted on held-out data, before decoding; greedy decoding reads the same text
at any T > 0 (the best class per step does not change), only the confidence moves.

Expected calibration error (ECE): put the predictions in 10 equal bins of confidence; ECE is
the mean, weighted by bin size, of |accuracy - mean confidence| in each bin. No torch here.

>>> round(expected_calibration_error(np.array([0.9, 0.9]), np.array([True, False])), 2)
0.4
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ctcocr.core.charset import Charset
from ctcocr.decoding.beam import text_log_probability
from ctcocr.decoding.decoder import DecodeOptions, decode
from ctcocr.decoding.greedy import ctc_greedy_decode, log_softmax

COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.7, 0.5)
LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def fit_temperature(logits: np.ndarray, correct: np.ndarray) -> float:
    """The T that minimises the negative log-likelihood of greedy reading being right.

    Why this target: the number users act on is the confidence of the text read, and what
    matters is whether that text is right. The binary NLL (log loss) of "read correctly"
    under that confidence is a proper scoring rule, so its minimum is the calibrated T for
    exactly that number. The CTC NLL of the label would instead calibrate the probability
    of the true text summed over all paths, not the best-path confidence greedy decoding
    reports. With only right (or only wrong) readings the loss has no minimum (it falls
    without end towards T -> 0 or T -> inf): see `_match_mean_confidence`.
    """
    correct = np.asarray(correct, dtype=bool)
    if not len(correct):
        return 1.0
    gaps = np.asarray(logits, np.float64)
    gaps = gaps - gaps.max(axis=-1, keepdims=True)  # (N, T, C)

    def log_confidence(t: float) -> np.ndarray:
        # log P(best path) at T is -sum_t log sum_c exp(gap / T): no decoding per trial.
        return -np.log(np.exp(gaps / t).sum(axis=-1)).sum(axis=-1)

    if correct.all() or not correct.any():
        return _match_mean_confidence(log_confidence, correct)
    return _minimise_over_log_t(lambda t: _log_loss(log_confidence(t), correct))


def fit_temperature_for(
    logits: np.ndarray, labels: Sequence[str], charset: Charset, options: DecodeOptions
) -> float:
    """As `fit_temperature`, for the confidence of a beam search or constrained decoding: the
    probability of the text read, summed over all its paths.

    The texts are read once, at T = 1, and held fixed while T varies (their probability at
    each T comes from the CTC forward algorithm). Decoding again at each T would let the fit
    buy calibration with accuracy: at a large T the search reads nonsense that a tiny
    confidence calls wrong, which the log loss rewards.
    """
    predictions = decode(logits, charset, options)
    # Empty readings under constraints nothing met have confidence 0 at every T: left out.
    read = [not (p.rejected and p.confidence == 0.0) for p in predictions]
    texts = [charset.encode(p.text) for p, r in zip(predictions, read, strict=True) if r]
    right = np.array([p.text == t for p, t, r in zip(predictions, labels, read, strict=True) if r])
    if not len(right):
        return 1.0
    kept = np.asarray(logits, np.float64)[np.array(read)]

    def log_confidence(t: float) -> np.ndarray:
        return text_log_probability(log_softmax(kept / t), texts)

    if right.all() or not right.any():
        return _match_mean_confidence(log_confidence, right)
    return _minimise_over_log_t(lambda t: _log_loss(log_confidence(t), right))


def _match_mean_confidence(
    log_confidence: Callable[[float], np.ndarray], correct: np.ndarray
) -> float:
    """For a set read all right (or all wrong): the T whose mean confidence is the chance that
    the next reading is right by Laplace's rule of succession, (right + 1) / (count + 2).

    Keeping T = 1 there left a model that read all 956 validation CAPTCHAs right claiming 65%
    on average; T -> 0 would claim 100% for readings nobody has seen. T stays 1 where its
    confidence is already beyond the target on the right side (surer when all are right, less
    sure when all are wrong), so that the fit never worsens the set's own calibration error.
    Bisection in log T over [0.05, 20] (confidence falls as T rises)."""
    target = (correct.sum() + 1) / (len(correct) + 2)
    at_one = float(np.exp(log_confidence(1.0)).mean())
    if (at_one >= target) if correct.all() else (at_one <= target):
        return 1.0
    low, high = LOG_T_RANGE
    for _ in range(40):
        middle = (low + high) / 2
        if np.exp(log_confidence(math.exp(middle))).mean() > target:
            low = middle  # too sure: soften
        else:
            high = middle
    return round(math.exp((low + high) / 2), 4)


def _log_loss(log_confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean binary NLL of `correct` under confidences given as logarithms."""
    log_c = np.minimum(log_confidence, -1e-12)
    log_wrong = np.log(-np.expm1(log_c))  # log(1 - c), stable near c = 1
    return float(-np.where(correct, log_c, log_wrong).mean())


def _minimise_over_log_t(
    loss: Callable[[float], float], grid_points: int = 41, refine: int = 30
) -> float:
    """A 1-D search in log T over [0.05, 20]: a grid, then golden section around its best."""
    grid = np.linspace(*LOG_T_RANGE, grid_points)
    best = int(np.argmin([loss(math.exp(x)) for x in grid]))
    low, high = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(refine):  # the bracket shrinks by 0.618 each step
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(math.exp(a)) < loss(math.exp(b)):
            high = b
        else:
            low = a
    return round(math.exp((low + high) / 2), 4)


def reliability(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10
) -> list[dict[str, Any]]:
    """Reliability-diagram bins: for confidences in [low, high) (1.0 in the last), their count,
    mean confidence and accuracy. A calibrated model's accuracy in each bin equals its mean
    confidence. Empty bins are kept (count 0, None values) so that the bins line up with
    [0, 1] whatever the data."""
    confidences, correct = np.asarray(confidences, float), np.asarray(correct, bool)
    which = np.minimum((confidences * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        rows.append({
            "low": b / bins,
            "high": (b + 1) / bins,
            "count": count,
            "confidence": float(confidences[members].mean()) if count else None,
            "accuracy": float(correct[members].mean()) if count else None,
        })  # fmt: skip
    return rows


def expected_calibration_error(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10
) -> float:
    """The mean gap between confidence and accuracy over the bins, weighted by their counts."""
    rows = [r for r in reliability(confidences, correct, bins) if r["count"]]
    total = sum(r["count"] for r in rows)
    return float(sum(r["count"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows))


def reliability_bins(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of each non-empty bin: a reliability diagram."""
    rows = reliability(confidences, correct, bins)
    return [(r["confidence"], r["accuracy"], r["count"]) for r in rows if r["count"]]


def coverage_curve(
    confidences: npt.ArrayLike, correct: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Keeping the n most confident for n = 1..N -> (coverage n/N, accuracy of those kept)."""
    order = np.argsort(-np.asarray(confidences, float), kind="stable")
    hits = np.cumsum(np.asarray(correct, bool)[order])
    kept = np.arange(1, len(order) + 1)
    return kept / max(1, len(order)), hits / kept


def coverage_table(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, coverages: Sequence[float] = COVERAGES
) -> list[dict[str, float]]:
    """Accuracy when the least confident (1 - coverage) are rejected, and the threshold."""
    order = np.argsort(-np.asarray(confidences, float), kind="stable")
    rows = []
    for coverage in coverages:
        kept = order[: max(1, math.ceil(coverage * len(order)))] if len(order) else order
        rows.append(
            {
                "coverage": coverage,
                "accuracy": float(np.asarray(correct, bool)[kept].mean()) if len(kept) else 0.0,
                "threshold": float(np.asarray(confidences, float)[kept[-1]]) if len(kept) else 0.0,
            }
        )
    return rows


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    count: int
    accuracy: float
    ece_before: float
    ece_after: float


def calibrate_logits(
    logits: np.ndarray,
    labels: Sequence[str],
    charset: Charset,
    options: DecodeOptions | None = None,
) -> TemperatureFit:
    """Fit T on raw logits (N, T, C) and their labels, for greedy decoding or for `options`;
    report ECE at T = 1 and at the fit."""
    if options is None or options.greedy:
        texts = [p.text for p in ctc_greedy_decode(logits, charset)]
        correct = np.array([t == label for t, label in zip(texts, labels, strict=True)])
        temperature = fit_temperature(logits, correct)
    else:
        temperature = fit_temperature_for(logits, labels, charset, options)
    scores = []
    for t in (1.0, temperature):
        predictions = decode(logits, charset, options, t)
        right = np.array([p.text == label for p, label in zip(predictions, labels, strict=True)])
        scores.append(expected_calibration_error([p.confidence for p in predictions], right))
    return TemperatureFit(
        temperature=temperature,
        count=len(labels),
        accuracy=float(right.mean()) if len(right) else 0.0,
        ece_before=scores[0],
        ece_after=scores[1],
    )
