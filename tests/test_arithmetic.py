"""`--answer arithmetic`: the value of the expression read, or a clear reason why there is none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ctcocr import DecodeOptions, Recognizer
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


@pytest.mark.parametrize(
    "text",
    ["", "12", "12+", "+7", "12++7", "12+7=5", "AB+3", "1/0", "3=4", "1+2+", "3X4X", "12+7+=?"],
)
def test_what_is_not_an_expression_is_named(text):
    with pytest.raises(ExpressionError, match=repr(text).replace("+", r"\+").replace("?", r"\?")):
        arithmetic_answer(text)


def logits_reading(text: str, charset: Charset, steps: int = 0) -> np.ndarray:
    """Logits (1, T, C) whose greedy reading is `text` (a blank between characters); T is
    `steps`, or just enough, and the columns after the text read blank."""
    steps = max(steps, 2 * len(text) + 1)
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


# --- the command line -----------------------------------------------------------------------

ARITHMETIC = Charset("0123456789+-×=?AB")


def reading(monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> None:
    """Make every Recognizer read `texts`, one per image in order, through the real decoder
    (the tiny model's charset has no operators, so it never reads an expression itself)."""
    steps = 2 * max(map(len, texts)) + 1

    def decode_texts(self, logits, options=None, temperature=None):
        shown = [logits_reading(t, ARITHMETIC, steps) for t in texts[: len(logits)]]
        return decode(np.concatenate(shown), ARITHMETIC, options)

    monkeypatch.setattr(Recognizer, "decode", decode_texts)


def images(tiny_dataset: Path, count: int) -> list[Path]:
    return [tiny_dataset / "images" / f"{i:06d}.png" for i in range(count)]


def test_predict_prints_the_answer_beside_the_text(cli, tiny_run, tiny_dataset, monkeypatch):
    reading(monkeypatch, ["12+7=?", "3×4"])
    first, second = images(tiny_dataset, 2)
    result = cli("predict", tiny_run, first, second, "--answer", "arithmetic")
    assert result.code == 0, result.err
    lines = [line.split("\t") for line in result.out.splitlines()]
    assert [(row[0], row[1], row[3]) for row in lines] == [
        (str(first), "12+7=?", "= 19"),
        (str(second), "3×4", "= 12"),
    ]
    assert result.err == ""
    rows = json.loads(
        cli("predict", tiny_run, first, second, "--answer", "arithmetic", "--json").out
    )
    assert [(r["text"], r["answer"], r["answer_error"]) for r in rows] == [
        ("12+7=?", "19", None),
        ("3×4", "12", None),
    ]
    plain = cli("predict", tiny_run, first, "--json")
    assert "answer" not in json.loads(plain.out)[0]  # only when asked


def test_predict_names_each_reading_that_is_not_an_expression(
    cli, tiny_run, tiny_dataset, monkeypatch
):
    reading(monkeypatch, ["12+7=?", "12+", "AB"])
    paths = images(tiny_dataset, 3)
    result = cli("predict", tiny_run, *paths, "--answer", "arithmetic")
    assert result.code == 1
    assert [line.split("\t")[3] for line in result.out.splitlines()] == [
        "= 19",
        "no answer",
        "no answer",
    ]
    errors = result.err.splitlines()
    assert errors[0].startswith(f"ctcocr predict: {paths[1]}: no answer: read '12+'")
    assert errors[1].startswith(f"ctcocr predict: {paths[2]}: no answer: read 'AB'")
    assert "not an arithmetic expression" in errors[0]
    assert errors[2] == "ctcocr predict: 2 of 3 readings are not arithmetic expressions: no answer"
    assert "Traceback" not in result.err and str(paths[0]) not in result.err
    as_json = cli("predict", tiny_run, *paths, "--answer", "arithmetic", "--json")
    assert as_json.code == 1
    rows = json.loads(as_json.out)
    assert [r["answer"] for r in rows] == ["19", None, None]
    assert "not an arithmetic expression" in rows[1]["answer_error"]
    assert rows[0]["answer_error"] is None


def test_predict_with_the_tiny_model_has_no_answer_and_exits_1(cli, tiny_run, tiny_dataset):
    image = images(tiny_dataset, 1)[0]  # its charset has no operators: never an expression
    result = cli("predict", tiny_run, image, "--answer", "arithmetic")
    assert result.code == 1
    assert result.out.split("\t")[3].strip() == "no answer"
    assert result.err.startswith(f"ctcocr predict: {image}: no answer: read ")
    assert "check the image, or read it without --answer" in result.err


def test_evaluate_scores_the_text_and_counts_right_answers(
    cli, tiny_run, tiny_dataset, tmp_path, monkeypatch
):
    rows = [("images/000000.png", "12+7=?"), ("images/000001.png", "3×4"),
            ("images/000002.png", "8-3")]  # fmt: skip
    folder = tmp_path / "sums"
    (folder / "images").mkdir(parents=True)
    for path, _ in rows:
        shutil.copy(tiny_dataset / path, folder / path)
    lines = ["path,label", *(f"{path},{label}" for path, label in rows)]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # misread but the same value; read right; misread into another value
    reading(monkeypatch, ["12+7=", "3×4", "8-5"])
    result = cli("evaluate", tiny_run, folder, "--answer", "arithmetic", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["sequence_accuracy"] == pytest.approx(1 / 3)  # the text, scored as usual
    assert data["answers"] == {"parsed": 3, "right": 2, "accuracy": pytest.approx(2 / 3)}
    text = cli("evaluate", tiny_run, folder, "--answer", "arithmetic")
    assert "arithmetic answers  66.67% right; 3 of 3 readings parse" in text.out
    assert "answers" not in json.loads(cli("evaluate", tiny_run, folder, "--json").out)
