"""`--answer arithmetic`: the value of the expression read, or a clear reason why there is none."""

from __future__ import annotations

import numpy as np
import pytest

from ctcocr import DecodeOptions
from ctcocr.core.charset import Charset
from ctcocr.core.errors import ConfigError, ExpressionError
from ctcocr.decoding.arithmetic import arithmetic_answer
from ctcocr.decoding.decoder import decode


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12+7", "19"),
        ("12+7=?", "19"),
        ("12+7=", "19"),
        ("3×4", "12"),
        ("3x4=?", "12"),
        ("8-13", "-5"),
        ("8−3", "5"),
        ("2+3×4", "14"),
        ("20÷4-1", "4"),
        ("7/2", "3.5"),
        (" 9 + 1 ? ", "10"),
        ("1+2+3+4", "10"),
    ],
)
def test_expressions_give_their_value(text, value):
    assert arithmetic_answer(text) == value


@pytest.mark.parametrize("text", ["", "12", "12+", "+7", "12++7", "12+7=5", "AB+3", "1/0", "3=4"])
def test_what_is_not_an_expression_is_named(text):
    with pytest.raises(ExpressionError, match=repr(text).replace("+", r"\+").replace("?", r"\?")):
        arithmetic_answer(text)


def logits_reading(text: str, charset: Charset) -> np.ndarray:
    """Logits (1, T, C) whose greedy reading is `text` (a blank between characters)."""
    steps = 2 * len(text) + 1
    logits = np.full((1, steps, charset.num_classes), -5.0, np.float32)
    logits[0, :, 0] = 5.0
    for i, char in enumerate(text):
        logits[0, 2 * i + 1, 0] = -5.0
        logits[0, 2 * i + 1, charset.chars.index(char) + 1] = 5.0
    return logits


def test_decode_answers_beside_the_text():
    charset = Charset("0123456789+-×=?")
    options = DecodeOptions(answer="arithmetic")
    right, wrong = (
        decode(logits_reading(t, charset), charset, options)[0] for t in ("4×5=?", "4×")
    )
    assert (right.text, right.answer, right.answer_error) == ("4×5=?", "20", None)
    assert wrong.answer is None and "not an arithmetic expression" in wrong.answer_error
    assert right.to_dict()["answer"] == "20"
    plain = decode(logits_reading("4×5=?", charset), charset)[0]
    assert plain.answer is None and "answer" not in plain.to_dict()  # only when asked


def test_an_unknown_answer_kind_is_refused():
    with pytest.raises(ConfigError, match="answer='sum'"):
        DecodeOptions(answer="sum")  # type: ignore[arg-type]
    assert DecodeOptions.from_dict({"answer": "arithmetic"}).answer == "arithmetic"
