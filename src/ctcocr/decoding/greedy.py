"""CTC decoding in numpy: no torch, so the same code serves training and torch-free inference.

Greedy decoding, as the course describes it: take the best class at each time step, merge
repeats, drop blanks. `1 1 - 1` reads "11"; `1 1 1` reads "1".

>>> ctc_greedy_collapse([0, 3, 3, 0, 3, 5, 0])
[3, 3, 5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ctcocr.core.charset import BLANK, Charset
from ctcocr.decoding.prediction import Prediction


def ctc_greedy_collapse(best_path: Sequence[int]) -> list[int]:
    """Merge repeated classes, then drop blanks."""
    out: list[int] = []
    previous = BLANK
    for index in best_path:
        if index != previous and index != BLANK:
            out.append(int(index))
        previous = index
    return out


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def ctc_greedy_decode(logits: np.ndarray, charset: Charset) -> list[Prediction]:
    """Logits (B, T, C) -> one Prediction per batch item."""
    if logits.ndim != 3:
        raise ValueError(f"expected logits of shape (B, T, C), got {logits.shape}")
    logits = logits.astype(np.float32, copy=False)
    best = logits.argmax(axis=-1)  # (B, T)
    # The winning class's log-softmax, without the whole (B, T, C) array: at the maximum the
    # shifted logit is 0, so it is -log(sum(exp(logits - max))).
    top = logits.max(axis=-1, keepdims=True)
    best_log_prob = -np.log(np.exp(logits - top).sum(axis=-1))  # (B, T)
    step_probs = np.exp(best_log_prob).tolist()
    confidences = np.exp(best_log_prob.sum(axis=-1)).tolist()
    return [
        _decode_one(path, probs, confidence, charset)
        for path, probs, confidence in zip(best.tolist(), step_probs, confidences, strict=True)
    ]


def _decode_one(
    path: list[int], step_probs: list[float], confidence: float, charset: Charset
) -> Prediction:
    indices: list[int] = []
    char_confidences: list[float] = []
    previous = BLANK
    for index, prob in zip(path, step_probs, strict=True):
        if index != BLANK:
            if index != previous:
                indices.append(index)
                char_confidences.append(prob)
            else:  # the same character held over several steps: keep its best step
                char_confidences[-1] = max(char_confidences[-1], prob)
        previous = index
    return Prediction(
        text=charset.decode(indices),
        confidence=confidence,
        char_confidences=tuple(round(c, 6) for c in char_confidences),
    )
