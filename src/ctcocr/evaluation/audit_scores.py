"""How strongly a model's reading of an image disagrees with the image's label: the audit's
score, its ranking, and audit.csv.

A held-out model gives each image two probabilities, both CTC's (all the paths that read a
text, summed: decoding/beam.py `text_log_probability`), at the model's calibrated temperature:

    confidence         P(reading), the reading being what `ctcocr predict` reads (greedy)
    label_probability  P(label)
    score              log10 P(reading) - log10 P(label)

A score of 3 says the model finds its reading a thousand times more probable than the label.
It is large when the model is sure of its reading and the label is far from anything it
would read (several characters wrong, or one it is certain of), and near 0 when the model
hesitates between the two. Probabilities below 1e-300 count as 1e-300, so every score is
finite. Where the reading is the label the score is 0.

The ranking: disagreements first, highest score first; then the agreements, least probable
label first (those the model only just read as labelled).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ctcocr.core.charset import Charset
from ctcocr.core.run_folder import write_atomic
from ctcocr.decoding.beam import text_log_probability
from ctcocr.decoding.greedy import log_softmax
from ctcocr.runtime.recognizer import Recognizer

MIN_LOG10_PROBABILITY = -300.0
CSV_COLUMNS = (
    "rank", "path", "label", "reading", "confidence", "label_probability", "score", "fold",
)  # fmt: skip
CHUNK = 256  # images per logits array: (256, T, C) floats stay small for any charset


@dataclass(frozen=True)
class AuditRow:
    """One image as the audit saw it. `path` is as DATA lists it (relative to its folder);
    `fold` is the model that read it, the one that held it out; `rank` 1 is the likeliest
    wrong label."""

    path: str
    label: str
    reading: str
    confidence: float
    label_probability: float
    score: float
    fold: int
    rank: int = 0

    @property
    def disagrees(self) -> bool:
        return self.reading != self.label


def score_images(
    reader: Recognizer,
    images: Sequence[Path],
    labels: Sequence[str],
    names: Sequence[str],
    fold: int,
) -> list[AuditRow]:
    """Read `images` with `reader` and weigh each reading against its label -> one row each
    (unranked). `names` are the paths as audit.csv writes them."""
    rows: list[AuditRow] = []
    for start in range(0, len(images), CHUNK):
        end = start + CHUNK
        logits = reader.logits(images[start:end])  # (N, T, C)
        readings = [p.text for p in reader.decode(logits)]
        log_probs = log_softmax(logits.astype(np.float64) / reader.spec.temperature)
        reading_p = _log10_probability(log_probs, readings, reader.spec.charset)
        label_p = _log10_probability(log_probs, labels[start:end], reader.spec.charset)
        scores = np.where(np.array(readings) != np.array(labels[start:end]), reading_p - label_p, 0)
        rows += [
            AuditRow(name, label, reading, 10.0**read, 10.0**truth, float(score), fold)
            for name, label, reading, read, truth, score in zip(
                names[start:end], labels[start:end], readings, reading_p.tolist(),
                label_p.tolist(), scores.tolist(), strict=True,
            )
        ]  # fmt: skip
    return rows


def _log10_probability(log_probs: np.ndarray, texts: Sequence[str], charset: Charset) -> np.ndarray:
    """log10 P(text) for each image (N,), floored; a text with characters the model cannot
    write gets the floor."""
    known = [all(c in charset.chars for c in text) for text in texts]
    encoded = [charset.encode(text) if ok else [] for text, ok in zip(texts, known, strict=True)]
    natural = text_log_probability(log_probs, encoded)
    natural = np.where(known, natural, -np.inf)
    return np.maximum(natural / np.log(10), MIN_LOG10_PROBABILITY)


def rank_rows(rows: Sequence[AuditRow]) -> list[AuditRow]:
    """Disagreements by score, highest first, then agreements by label probability, lowest
    first; `rank` from 1."""
    order = sorted(rows, key=lambda r: (not r.disagrees, -r.score, r.label_probability, r.path))
    return [replace(row, rank=n) for n, row in enumerate(order, start=1)]


def write_audit_csv(path: Path, rows: Sequence[AuditRow]) -> None:
    """The ranked rows as audit.csv, one per image, in rank order."""

    def write(temporary: Path) -> None:
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for r in rows:
                writer.writerow([
                    r.rank, r.path, r.label, r.reading, f"{r.confidence:.6f}",
                    f"{r.label_probability:.3e}", f"{r.score:.3f}", r.fold,
                ])  # fmt: skip

    write_atomic(path, write)
