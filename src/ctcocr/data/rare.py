"""Repeat the training images that hold rare characters, so that the network sees them often.

Licence plates are the case in point: in the plate set one province character is on 95% of
the training plates and others on 3 of 799, and the network learns to read every province as
the common one. Repeat factor sampling (Gupta, Dollár & Girshick, LVIS, arXiv:1908.03195):
a character on a share s of the training images, s below the threshold t, has the factor
sqrt(t / s); an image repeats as often as its rarest character asks, at least once, each
epoch (the fraction by a seeded coin, so an epoch of factor 1.5 shows the image once or
twice). A set whose characters are all common (every CAPTCHA set we have, at t = 0.05) is
left exactly as it is.

>>> [round(f, 2) for f in repeat_factors(["AB", "AB", "AB", "AC"], threshold=0.5)]
[1.0, 1.0, 1.0, 1.41]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ctcocr.data.samples import Sample


def character_shares(labels: Sequence[str]) -> dict[str, float]:
    """Each character -> the share of the labels that hold it."""
    counts = Counter(char for label in labels for char in set(label))
    return {char: count / max(1, len(labels)) for char, count in counts.items()}


def repeat_factors(labels: Sequence[str], threshold: float) -> list[float]:
    """Per label: max(1, sqrt(threshold / share)) of its rarest character."""
    shares = character_shares(labels)
    return [
        max([1.0] + [math.sqrt(threshold / shares[char]) for char in label]) for label in labels
    ]


def repeat_rare(samples: list[Sample], threshold: float, seed: int, epoch: int) -> list[Sample]:
    """This epoch's training list: each sample repeated by its factor, rounded by a coin that
    depends on (seed, epoch). Unchanged when no character is rare (or threshold is 0)."""
    if threshold <= 0:
        return samples
    factors = np.array(repeat_factors([s.label for s in samples], threshold))
    if np.all(factors == 1.0):
        return samples
    whole = np.floor(factors)
    coins = np.random.default_rng((seed, epoch, 0x5A3)).random(len(samples))
    counts = (whole + (coins < factors - whole)).astype(int)
    return [sample for sample, count in zip(samples, counts, strict=True) for _ in range(count)]


def rare_note(samples: Sequence[Sample], threshold: float, most: int = 6) -> str | None:
    """One line for the training log naming what is repeated, or None when nothing is."""
    if threshold <= 0:
        return None
    labels = [s.label for s in samples]
    factors = repeat_factors(labels, threshold)
    if all(f == 1.0 for f in factors):
        return None
    rare = sorted((share, char) for char, share in character_shares(labels).items())
    named = [
        f"{char!r} x{math.sqrt(threshold / share):.1f}" for share, char in rare if share < threshold
    ]
    shown = ", ".join(named[:most]) + (", ..." if len(named) > most else "")
    return (
        f"repeating images of rare characters (in < {threshold:.0%} of the training images; "
        f"--repeat-rare 0 turns this off): {shown}; an epoch is ~{round(sum(factors))} "
        f"images instead of {len(labels)}"
    )
