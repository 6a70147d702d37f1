import numpy as np
import pytest

from ctcocr.core.charset import Charset
from ctcocr.core.errors import CharsetError
from ctcocr.decoding.greedy import ctc_greedy_collapse, ctc_greedy_decode


def test_repeats_without_blank_merge():
    assert ctc_greedy_collapse([1, 1, 1]) == [1]


def test_repeats_with_blank_between_stay():
    assert ctc_greedy_collapse([1, 0, 1]) == [1, 1]
    assert ctc_greedy_collapse([0, 1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]


def test_all_blank_reads_nothing():
    assert ctc_greedy_collapse([0, 0, 0]) == []


def _one_hot_logits(path: list[int], classes: int) -> np.ndarray:
    logits = np.full((1, len(path), classes), -10.0, np.float32)
    for t, c in enumerate(path):
        logits[0, t, c] = 10.0
    return logits


def test_greedy_decode_reads_double_letters_and_confidences():
    charset = Charset("AB")
    predictions = ctc_greedy_decode(_one_hot_logits([0, 1, 1, 0, 1, 2, 0], 3), charset)
    assert predictions[0].text == "AAB"
    assert len(predictions[0].char_confidences) == 3
    assert predictions[0].confidence > 0.99


def test_greedy_decode_batch_and_uncertainty():
    charset = Charset("AB")
    logits = np.zeros((2, 5, 3), np.float32)  # uniform: every class equally likely
    logits[1] = _one_hot_logits([1, 0, 2, 0, 0], 3)[0]
    uniform, sure = ctc_greedy_decode(logits, charset)
    assert sure.text == "AB"
    assert uniform.confidence == pytest.approx((1 / 3) ** 5, rel=1e-4)


def test_charset_round_trip_and_blank():
    charset = Charset("0123456789")
    assert charset.num_classes == 11
    assert charset.encode("907") == [10, 1, 8]
    assert charset.decode([10, 0, 1, 8]) == "907"


def test_charset_rejects_repeats_and_unknown_characters():
    with pytest.raises(CharsetError, match="repeats"):
        Charset("ABCA")
    with pytest.raises(CharsetError, match="'x'"):
        Charset("0123").encode("1x2")
    with pytest.raises(CharsetError):
        Charset("")


def test_charset_inferred_sorted_unique():
    assert Charset.from_labels(["BA1", "A2"]).chars == "12AB"
    assert Charset.from_labels(["京A12"]).chars == "12A京"


def test_greedy_confidences_are_the_softmax_of_the_winning_classes():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (3, 9, 5)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # the plain definition
    charset = Charset("ABCD")
    for prediction, image_probs in zip(ctc_greedy_decode(logits, charset), probs, strict=True):
        best = image_probs.max(-1)  # the winning class's probability at each step
        assert prediction.confidence == pytest.approx(float(np.prod(best)), rel=1e-5)
        expected, previous = [], 0
        for step_best, winner in zip(best, image_probs.argmax(-1), strict=True):
            if winner and winner == previous:
                expected[-1] = max(expected[-1], step_best)
            elif winner:
                expected.append(step_best)
            previous = winner
        assert prediction.char_confidences == pytest.approx(expected, rel=1e-5)
