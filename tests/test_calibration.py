"""Temperature scaling makes an overconfident model's confidence match its accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctcocr.core.charset import Charset
from ctcocr.core.run_folder import RunSpec
from ctcocr.decoding.decoder import DecodeOptions, decode
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.evaluation.calibration import (
    calibrate_logits,
    coverage_table,
    expected_calibration_error,
    fit_temperature,
)


def overconfident(count: int = 400, seed: int = 0) -> tuple[np.ndarray, list[str], Charset]:
    """Logits that read their text with ~99% confidence, of which only ~70% are right."""
    rng = np.random.default_rng(seed)
    charset = Charset("ABCD")
    logits = rng.normal(size=(count, 8, charset.num_classes)).astype(np.float32)
    paths = rng.integers(0, charset.num_classes, size=(count, 8))
    np.put_along_axis(logits, paths[..., None], rng.uniform(8, 12, size=(count, 8, 1)), axis=-1)
    texts = [p.text for p in ctc_greedy_decode(logits, charset)]
    labels = [t if rng.random() < 0.7 else t + "A" for t in texts]
    return logits, labels, charset


def test_temperature_fitted_on_overconfident_logits_lowers_calibration_error():
    logits, labels, charset = overconfident()
    fit = calibrate_logits(logits, labels, charset)
    assert fit.temperature > 1.5  # softer: the model claimed more than it delivers
    assert fit.ece_before > 0.2
    assert fit.ece_after < fit.ece_before / 3
    # The same fit holds on fresh data from the same model.
    fresh, fresh_labels, _ = overconfident(seed=1)
    plain = decode(fresh, charset)
    correct = np.array([p.text == t for p, t in zip(plain, fresh_labels, strict=True)])
    confidence = np.array([p.confidence for p in decode(fresh, charset, None, fit.temperature)])
    assert expected_calibration_error(confidence, correct) < fit.ece_before / 3


def test_temperature_fitted_for_a_beam_search_calibrates_its_confidence():
    logits, labels, charset = overconfident(count=200)
    options = DecodeOptions(beam=3, length=(1, 8))
    fit = calibrate_logits(logits, labels, charset, options)
    assert fit.temperature > 1.5
    assert fit.ece_after < fit.ece_before / 3


def test_temperature_changes_confidence_not_the_greedy_text():
    logits, _, charset = overconfident(count=20)
    plain, soft = decode(logits, charset), decode(logits, charset, None, 3.0)
    assert [p.text for p in plain] == [p.text for p in soft]
    assert all(s.confidence < p.confidence for p, s in zip(plain, soft, strict=True))


@pytest.mark.parametrize("right", [True, False])
def test_a_set_read_all_right_or_all_wrong_gets_the_rule_of_succession(right):
    # The log loss has no minimum here; the mean confidence is set to (right + 1) / (n + 2).
    logits, labels, charset = overconfident(count=48)
    if right:
        logits = logits / 6  # under-confident (~1%), as a CTC model's best path usually is
    texts = [p.text for p in ctc_greedy_decode(logits, charset)]
    labels = texts if right else [t + "A" for t in texts]
    expected = 49 / 50 if right else 1 / 50
    # (a beam reads a few of these soft logits otherwise than greedy: not an all-right set)
    for options in (None,) if right else (None, DecodeOptions(beam=3)):
        fit = calibrate_logits(logits, labels, charset, options)
        confidence = [p.confidence for p in decode(logits, charset, options, fit.temperature)]
        if options is None:  # the best path's confidence, moved to the target
            assert np.mean(confidence) == pytest.approx(expected, abs=1e-3)
            assert fit.ece_after == pytest.approx(1 - expected if right else expected, abs=1e-3)
        else:  # at the high T found, a narrow beam reads a few other texts, as unlikely
            assert np.mean(confidence) < 2 * expected < fit.ece_before
    assert fit_temperature(logits[:0], np.ones(0, bool)) == 1.0  # nothing read: left alone


@pytest.mark.parametrize("right", [True, False])
def test_confidence_already_beyond_the_rule_of_succession_keeps_t_at_one(right):
    # overconfident logits claim ~99%: all right with 48 images asks 98% (already surer); a
    # model that claims ~0.1% while reading everything wrong is already less sure than 2%.
    logits, _, _ = overconfident(count=48)
    if not right:
        logits = np.full_like(logits, 0.0)  # uniform: every path very unlikely
    assert fit_temperature(logits, np.full(48, right)) == 1.0


def test_calibration_error_and_coverage_by_hand():
    confidence = np.array([0.95, 0.9, 0.6, 0.3])
    correct = np.array([True, True, False, False])
    # bins: 0.9-1.0 holds two right (gap 0.075), 0.6 one wrong (0.6), 0.3 one wrong (0.3)
    assert expected_calibration_error(confidence, correct) == pytest.approx(
        (2 * 0.075 + 0.6 + 0.3) / 4
    )
    rows = coverage_table(confidence, correct, coverages=(1.0, 0.5))
    assert rows == [
        {"coverage": 1.0, "accuracy": 0.5, "threshold": 0.3},
        {"coverage": 0.5, "accuracy": 1.0, "threshold": 0.9},
    ]


def test_run_spec_without_temperature_reads_as_one(tiny_run):
    data = json.loads((tiny_run / "config.json").read_text(encoding="utf-8"))
    assert isinstance(data["temperature"], float) and data["temperature"] > 0
    del data["temperature"]
    assert RunSpec.from_json(data, "old config.json").temperature == 1.0
