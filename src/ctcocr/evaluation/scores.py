"""Scoring predictions against labels: sequence accuracy, character accuracy, per length.

Character accuracy is 1 - CER, the edit distance summed over the set divided by the number
of label characters (floored at 0).

>>> score(["AB12", "XYZ"], ["AB12", "XY"]).sequence_accuracy
0.5
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ctcocr.data.samples import Sample
from ctcocr.decoding.prediction import Prediction


class Reader(Protocol):
    def predict_batch(self, images: Sequence[Path], batch_size: int = ...) -> list[Prediction]: ...


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions each cost 1."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Scores:
    count: int
    sequence_accuracy: float
    character_accuracy: float
    per_length: dict[int, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sequence_accuracy": self.sequence_accuracy,
            "character_accuracy": self.character_accuracy,
            "per_length": {str(k): v for k, v in sorted(self.per_length.items())},
        }


def score(truths: Sequence[str], predictions: Sequence[str]) -> Scores:
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} labels but {len(predictions)} predictions")
    if not truths:
        return Scores(0, 0.0, 0.0)
    correct = sum(t == p for t, p in zip(truths, predictions, strict=True))
    errors = sum(edit_distance(t, p) for t, p in zip(truths, predictions, strict=True))
    characters = sum(len(t) for t in truths)
    by_length: dict[int, list[bool]] = defaultdict(list)
    for t, p in zip(truths, predictions, strict=True):
        by_length[len(t)].append(t == p)
    per_length = {
        n: {"count": len(hits), "sequence_accuracy": sum(hits) / len(hits)}
        for n, hits in sorted(by_length.items())
    }
    return Scores(
        count=len(truths),
        sequence_accuracy=correct / len(truths),
        character_accuracy=max(0.0, 1.0 - errors / max(1, characters)),
        per_length=per_length,
    )


def evaluate_samples(
    reader: Reader, samples: Sequence[Sample], ignore_case: bool = False
) -> tuple[Scores, list[Prediction]]:
    """Read every sample's image and score the texts against the labels (both lower-cased
    when `ignore_case`; the returned predictions are then lower-cased too)."""
    predictions = reader.predict_batch([s.path for s in samples])
    if ignore_case:
        predictions = [replace(p, text=p.text.lower()) for p in predictions]
    truths = [s.label.lower() if ignore_case else s.label for s in samples]
    return score(truths, [p.text for p in predictions]), predictions
