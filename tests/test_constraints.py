"""Constraints hold on whatever the network outputs, and impossible ones say so."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctcocr.core.charset import Charset
from ctcocr.core.errors import CharsetError, ConfigError, DataError
from ctcocr.decoding.decoder import CONSTRAINED_BEAM, DecodeOptions, decode, read_lexicon
from ctcocr.decoding.pattern import compile_pattern

CHARSET = Charset("0123456789ABC")
PATTERNS = [r"[A-C]{2}\d{3}", r"\d+", r"(AB|C)\d?", r"A?B*C{1,2}", r"[^0-5]{2,4}", r"\d{2}-?"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    beam=st.integers(1, 6),
    allowed=st.none() | st.sets(st.sampled_from(CHARSET.chars), min_size=1).map("".join),
    length=st.none() | st.tuples(st.integers(0, 4), st.integers(1, 5)).map(sorted).map(tuple),
    pattern=st.none() | st.sampled_from([p for p in PATTERNS if "-" not in p]),
    lexicon=st.none() | st.lists(st.text(CHARSET.chars, min_size=1, max_size=6), min_size=1),
)
def test_every_text_read_meets_every_constraint(seed, beam, allowed, length, pattern, lexicon):
    try:
        options = DecodeOptions(beam, allowed, length, pattern, lexicon and tuple(lexicon))
        logits = np.random.default_rng(seed).normal(size=(3, 14, CHARSET.num_classes)) * 3
        predictions = decode(logits.astype(np.float32), CHARSET, options)
    except ConfigError as error:  # constraints that no text meets together
        assert "no text meets" in str(error) or "matches pattern" in str(error)
        return
    for prediction in predictions:
        texts = [prediction.text, *(text for text, _ in prediction.candidates)]
        if prediction.rejected and prediction.confidence == 0.0:
            assert prediction.text == "" and not prediction.candidates
            continue
        for text in texts:
            assert allowed is None or set(text) <= set(allowed)
            assert length is None or length[0] <= len(text) <= length[1]
            assert pattern is None or re.fullmatch(pattern, text)
            assert lexicon is None or text in lexicon


@settings(max_examples=80, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=st.text("0123456789ABC-", max_size=6))
def test_pattern_automaton_agrees_with_re(pattern, text):
    dfa = compile_pattern(pattern, Charset("0123456789ABC-"))
    classes = [Charset("0123456789ABC-").encode(text)][0]
    assert dfa.accepts(classes) == (re.fullmatch(pattern, text) is not None)


def _sharp_logits(text: str, charset: Charset, steps: int = 16) -> np.ndarray:
    """Logits that read `text` clearly, one character every second step."""
    logits = np.zeros((1, steps, charset.num_classes), np.float32)
    logits[0, :, 0] = 4.0
    for i, index in enumerate(charset.encode(text)):
        logits[0, 2 * i + 1, index] = 8.0
    return logits


def test_length_constraint_trims_or_extends_to_the_range():
    charset = Charset("0123456789")
    logits = _sharp_logits("1234567", charset)
    (free,) = decode(logits, charset, DecodeOptions(beam=5))
    (short,) = decode(logits, charset, DecodeOptions(beam=5, length=(4, 6)))
    assert free.text == "1234567"
    assert 4 <= len(short.text) <= 6
    assert short.confidence < free.confidence


def test_pattern_picks_the_readable_plate():
    charset = Charset("0123456789ABO")
    logits = _sharp_logits("AB0123", charset)
    # Make the third character look like O slightly more than 0.
    o = charset.encode("O")[0]
    logits[0, 5, o] = 8.5
    (greedy,) = decode(logits, charset)
    (plate,) = decode(logits, charset, DecodeOptions(beam=5, pattern=r"[A-Z]{2}\d{4}"))
    assert greedy.text == "ABO123"
    assert plate.text == "AB0123"


def test_lexicon_reads_only_listed_words_and_allowed_only_listed_characters():
    charset = Charset("ABCDEFGH")
    logits = _sharp_logits("BADGE", charset)
    (word,) = decode(logits, charset, DecodeOptions(beam=3, lexicon=("BADGE", "CAGED", "FADE")))
    (other,) = decode(logits, charset, DecodeOptions(beam=3, lexicon=("CAGED", "FADE")))
    (masked,) = decode(logits, charset, DecodeOptions(allowed="ABDG"))
    assert word.text == "BADGE"
    assert other.text in {"CAGED", "FADE"} and other.confidence < word.confidence
    assert masked.text == "BADG"


def test_too_long_for_the_time_steps_reads_nothing_with_zero_confidence():
    charset = Charset("0123456789")
    logits = _sharp_logits("12", charset, steps=4)
    (prediction,) = decode(logits, charset, DecodeOptions(length=(6, 8)))
    assert (prediction.text, prediction.confidence, prediction.rejected) == ("", 0.0, True)


def test_impossible_constraints_are_clear_errors():
    charset = Charset("0123456789")
    logits = _sharp_logits("12", charset)
    with pytest.raises(CharsetError, match=r"'XY'.*not in the model's charset"):
        decode(logits, charset, DecodeOptions(allowed="12XY"))
    with pytest.raises(ConfigError, match="no text over the model's charset"):
        decode(logits, charset, DecodeOptions(pattern="[A-Z]{3}"))
    with pytest.raises(ConfigError, match="no text meets these constraints"):
        decode(logits, charset, DecodeOptions(pattern=r"\d{7}", length=(2, 5)))
    with pytest.raises(CharsetError, match="lexicon word"):
        decode(logits, charset, DecodeOptions(lexicon=("12", "ab")))
    with pytest.raises(ConfigError, match="a lexicon of 2 texts"):
        decode(logits, charset, DecodeOptions(lexicon=("12", "345"), length=(4, 5)))


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=a)b", r"a\bb", "(?i)ab", "a^b", "[a-", "a{2,1}"]
)
def test_unsupported_or_broken_patterns_are_refused_when_options_are_made(pattern):
    with pytest.raises(ConfigError, match="pattern"):
        DecodeOptions(pattern=pattern)


def test_min_confidence_marks_rejected_but_keeps_the_text():
    charset = Charset("AB")
    logits = np.zeros((2, 5, 3), np.float32)
    logits[1] = _sharp_logits("AB", charset, steps=5)[0]
    unsure, sure = decode(logits, charset, DecodeOptions(min_confidence=0.5))
    assert unsure.rejected and not sure.rejected
    assert sure.text == "AB"


def test_a_constraint_alone_searches_a_beam_wide_enough_to_find_the_best_text():
    """A beam of 1 keeps `a` after the first step and cannot reach `b`, the likelier
    1-character text; without --beam a constrained search keeps CONSTRAINED_BEAM texts."""
    charset = Charset("ab")
    probs = np.array([[[0.4, 0.6, 0.0], [0.45, 0.0, 0.55], [0.1, 0.0, 0.9]]])  # blank, a, b
    logits = np.log(probs + 1e-9).astype(np.float32)
    assert DecodeOptions().width == 1 and DecodeOptions(length=(1, 1)).width == CONSTRAINED_BEAM
    assert DecodeOptions(beam=3, allowed="a").width == 3
    assert DecodeOptions(length=(1, 1)).to_dict()["beam"] == CONSTRAINED_BEAM  # as it ran
    (narrow,) = decode(logits, charset, DecodeOptions(beam=1, length=(1, 1)))
    (default,) = decode(logits, charset, DecodeOptions(length=(1, 1)))
    assert narrow.text == "a" and default.text == "b"
    assert default.confidence == pytest.approx(
        0.4 * 0.55 * 0.9 + 0.4 * 0.45 * 0.9 + 0.4 * 0.55 * 0.1
    )
    (greedy,) = decode(logits, charset, DecodeOptions())
    assert greedy.text == "ab"  # no constraint: greedy, as before


def test_options_round_trip_through_json_and_refuse_bad_values():
    options = DecodeOptions(5, "0123", (4, 6), r"\d+", ("0123", "321"), 0.25)
    assert DecodeOptions.from_dict(options.to_dict()) == options
    assert DecodeOptions.from_dict({"length": [2, 3]}).length == (2, 3)
    assert DecodeOptions.from_dict({}) == DecodeOptions()
    bad = [
        ({"beam": 0}, "beam"),
        ({"beam": True}, "beam"),
        ({"beam": "5"}, "beam"),
        ({"length": [5, 2]}, "length"),
        ({"length": "4-6"}, "length"),
        ({"allowed": ""}, "allowed"),
        ({"lexicon": "ABC"}, "lexicon"),
        ({"lexicon": ["A", ""]}, "lexicon"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"beams": 5}, "unknown decode option"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            DecodeOptions.from_dict(data)
    with pytest.raises(ConfigError, match="JSON object"):
        DecodeOptions.from_dict(["beam"])  # type: ignore[arg-type]


def test_a_large_lexicon_compiles_and_decodes_quickly():
    charset = Charset("0123456789")
    words = tuple(f"{n:05d}" for n in range(0, 100_000, 3))  # 33,334 texts
    logits = _sharp_logits("12345", charset)
    (prediction,) = decode(logits, charset, DecodeOptions(beam=5, lexicon=words))
    assert prediction.text == "12345"  # 12345 = 3 * 4115
    (other,) = decode(_sharp_logits("12346", charset), charset, DecodeOptions(lexicon=words))
    assert int(other.text) % 3 == 0 and other.text != "12346"


def test_read_lexicon(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("ABC\n\n  DEF \nABC\n", encoding="utf-8")
    assert read_lexicon(path) == ("ABC", "DEF")
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_lexicon(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="cannot read"):
        read_lexicon(tmp_path / "missing.txt")
