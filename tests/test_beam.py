"""Beam search against the definition: the probability of a text is the sum over all paths."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctcocr.core.charset import Charset
from ctcocr.decoding.beam import (
    aligned_confidences,
    batch_beam_search,
    prefix_beam_search,
    text_log_probability,
)
from ctcocr.decoding.constraints import Constraints
from ctcocr.decoding.decoder import DecodeOptions, decode
from ctcocr.decoding.greedy import ctc_greedy_collapse, ctc_greedy_decode, log_softmax


def brute_force(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """P(text) for every text, by summing all C**T paths."""
    steps, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(classes), repeat=steps):
        text = tuple(ctc_greedy_collapse(path))
        probability = float(np.exp(log_probs[np.arange(steps), path].sum()))
        totals[text] = totals.get(text, 0.0) + probability
    return totals


def random_log_probs(seed: int, steps: int, classes: int, scale: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return log_softmax(rng.normal(size=(steps, classes)) * scale)


@pytest.mark.parametrize(("steps", "classes"), [(1, 2), (3, 3), (5, 3), (4, 4), (7, 2)])
def test_wide_beam_gives_every_text_its_summed_probability(steps, classes):
    for seed in range(3):
        log_probs = random_log_probs(seed, steps, classes)
        truth = brute_force(log_probs)
        found = prefix_beam_search(log_probs, width=256)
        assert {text for text, _ in found} == set(truth)
        for text, log_p in found:
            assert np.exp(log_p) == pytest.approx(truth[text], rel=1e-9, abs=1e-15)
        assert [p for _, p in found] == sorted((p for _, p in found), reverse=True)


def test_narrow_beam_returns_the_k_most_probable_texts_first():
    log_probs = random_log_probs(7, steps=6, classes=3, scale=3.0)
    truth = sorted(brute_force(log_probs).items(), key=lambda kv: -kv[1])
    found = prefix_beam_search(log_probs, width=3)
    assert len(found) == 3
    assert found[0][0] == truth[0][0]
    # A narrow beam drops paths through pruned prefixes: a lower bound, near the truth here.
    for text, log_p in found:
        assert 0.8 * dict(truth)[text] <= np.exp(log_p) <= dict(truth)[text] * (1 + 1e-9)


@pytest.mark.parametrize(
    ("options", "accepts"),
    [
        ({"length": (2, 3)}, lambda s: 2 <= len(s) <= 3),
        ({"allowed": "B"}, lambda s: set(s) <= {"B"}),
        ({"pattern": "A+B?"}, lambda s: re.fullmatch("A+B?", s) is not None),
        ({"lexicon": ("AB", "BA", "A")}, lambda s: s in {"AB", "BA", "A"}),
        ({"length": (1, 4), "pattern": "(AB)*"}, lambda s: s in {"AB", "ABAB"}),
    ],
)
def test_constrained_wide_beam_gives_the_allowed_texts_their_full_probability(options, accepts):
    charset = Charset("AB")
    constraints = Constraints(charset, **options)
    log_probs = random_log_probs(3, steps=5, classes=3)
    truth = {t: p for t, p in brute_force(log_probs).items() if accepts(charset.decode(t))}
    found = dict(prefix_beam_search(log_probs, width=256, constraints=constraints))
    assert set(found) == set(truth)
    for text, probability in truth.items():
        assert np.exp(found[text]) == pytest.approx(probability, rel=1e-9, abs=1e-15)


def test_greedy_options_decode_exactly_as_before():
    charset = Charset("0123456789")
    logits = np.random.default_rng(0).normal(size=(4, 12, 11)).astype(np.float32) * 4
    assert decode(logits, charset) == ctc_greedy_decode(logits, charset)
    assert decode(logits, charset, DecodeOptions(beam=1)) == ctc_greedy_decode(logits, charset)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 12), classes=st.integers(2, 6))
def test_beam_of_one_reads_the_best_path_when_it_dominates(seed, steps, classes):
    # Each step's best class has probability >= 0.9, so the best path's text is the most
    # probable text and a beam of one follows it.
    rng = np.random.default_rng(seed)
    best = rng.integers(0, classes, size=steps)
    probs = rng.dirichlet(np.ones(classes - 1), size=steps) * 0.1
    probs = np.stack([np.insert(p, b, 0.9) for p, b in zip(probs, best, strict=True)])
    log_probs = np.log(probs)
    charset = Charset("ABCDE"[: classes - 1])
    greedy = ctc_greedy_decode(log_probs[None].astype(np.float32), charset)[0]
    (text, _), *_ = prefix_beam_search(log_probs, width=1)
    assert charset.decode(text) == greedy.text
    assert aligned_confidences(log_probs, text) == pytest.approx(greedy.char_confidences, abs=1e-5)


def test_beam_prediction_has_candidates_and_char_confidences():
    charset = Charset("AB")
    logits = np.zeros((1, 6, 3), np.float32)
    logits[0, [0, 2, 4], [1, 2, 1]] = 5.0  # "A", "B", "A" separated by uniform steps
    (prediction,) = decode(logits, charset, DecodeOptions(beam=4))
    assert prediction.text == prediction.candidates[0][0]
    assert prediction.confidence == pytest.approx(prediction.candidates[0][1])
    assert len(prediction.candidates) == 4
    assert len(prediction.char_confidences) == len(prediction.text)
    assert prediction.to_dict()["candidates"][0] == {
        "text": prediction.text,
        "probability": prediction.confidence,
    }


def test_decoding_and_calibration_never_import_torch():
    code = (
        "import sys, ctcocr, ctcocr.decoding.decoder, ctcocr.evaluation.calibration, "
        "ctcocr.decoding.beam; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_batch_reads_as_its_images_one_by_one():
    charset = Charset("ABC")
    log_probs = np.stack([random_log_probs(seed, steps=6, classes=4) for seed in range(5)])
    for constraints in (None, Constraints(charset, length=(3, 3), pattern="A.*")):
        batch = batch_beam_search(log_probs, 4, constraints)
        assert batch == [prefix_beam_search(lp, 4, constraints) for lp in log_probs]


def test_forward_algorithm_gives_each_text_its_summed_probability():
    log_probs = np.stack([random_log_probs(seed, steps=5, classes=3) for seed in range(4)])
    texts = [(), (1, 1), (2, 1, 2), (1, 1, 1)]  # the last needs 5 steps: blanks between
    got = text_log_probability(log_probs, texts)
    for row, text, log_p in zip(log_probs, texts, got, strict=True):
        assert np.exp(log_p) == pytest.approx(brute_force(row).get(text, 0.0), rel=1e-9)
