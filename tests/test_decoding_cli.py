"""Decoding flags and calibration on the command line, end to end on the tiny run.

The tiny run reads nothing useful: these tests check that constraints hold and that the
promised fields and files appear, not accuracy.
"""

from __future__ import annotations

import json
import re
import shutil

from ctcocr import Recognizer
from ctcocr.decoding.decoder import DecodeOptions


def test_predict_json_with_beam_and_constraints(cli, tiny_run, tiny_dataset, tmp_path):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("ABCD\nXYZ12\n7777\n", encoding="utf-8")
    images = tiny_dataset / "images"
    result = cli(
        "predict", tiny_run, images, "--json", "--beam", 3, "--length", "4-5",
        "--pattern", r"[A-Z]+\d*", "--lexicon", lexicon,
    )  # fmt: skip
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert len(rows) == 48
    for row in rows:
        assert {"text", "confidence", "char_confidences", "rejected", "candidates"} <= set(row)
        assert row["text"] in {"ABCD", "XYZ12"}
        assert len(row["char_confidences"]) == len(row["text"])
        assert 1 <= len(row["candidates"]) <= 3
        assert all(c["text"] in {"ABCD", "XYZ12"} for c in row["candidates"])


def test_predict_allowed_length_and_min_confidence(cli, tiny_run, tiny_dataset):
    image = tiny_dataset / "images" / "000000.png"
    result = cli(
        "predict", tiny_run, image, "--json", "--allowed", "0123",
        "--length", "4", "--min-confidence", "1",
    )  # fmt: skip
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    assert re.fullmatch("[0123]{4}", row["text"])
    assert row["rejected"] is True
    plain = cli("predict", tiny_run, image, "--min-confidence", "1")
    assert plain.out.rstrip().endswith("rejected")


def test_impossible_or_malformed_constraints_exit_2_with_one_line(cli, tiny_run, tiny_dataset):
    image = tiny_dataset / "images" / "000000.png"
    for flags, message in [
        (("--allowed", "abc"), "not in the model's charset"),
        (("--pattern", "(?=A)B"), "not supported"),
        (("--pattern", r"\d{3}", "--length", "5-6"), "no text meets"),
        (("--lexicon", "missing.txt"), "cannot read the lexicon"),
        (("--beam", "0"), "beam"),
    ]:
        result = cli("predict", tiny_run, image, *flags)
        assert result.code == 2, flags
        assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err


def test_evaluate_reports_calibration_and_coverage_and_plots(cli, tiny_run, tiny_dataset, tmp_path):
    plot = tmp_path / "confidence.png"
    result = cli("evaluate", tiny_run, tiny_dataset, "--json", "--beam", 2, "--plot", plot)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    confidence = report["confidence"]
    assert {"temperature", "ece_before", "ece_after", "coverage", "rejected"} <= set(confidence)
    assert [row["coverage"] for row in confidence["coverage"]] == [1.0, 0.95, 0.9, 0.8, 0.7, 0.5]
    assert report["decoding"]["beam"] == 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = cli("evaluate", tiny_run, tiny_dataset, "--length", "4-5", "--min-confidence", "0.5")
    assert text.code == 0, text.err
    assert "expected calibration error" in text.out
    assert "coverage  accuracy" in text.out
    assert "rejected" in text.out


def test_calibrate_stores_a_temperature_that_predict_uses(cli, tiny_run, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["temperature"] = 7.0
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    result = cli("calibrate", run, tiny_dataset)
    assert result.code == 0, result.err
    assert "temperature" in result.out and "config.json" in result.out
    stored = json.loads((run / "config.json").read_text(encoding="utf-8"))["temperature"]
    assert stored != 7.0 and stored > 0
    # The stored temperature reaches every prediction: greedy text, softer or sharper confidence.
    image = tiny_dataset / "images" / "000000.png"
    reader = Recognizer(run)
    assert reader.spec.temperature == stored
    calibrated = reader.predict(image)
    raw = reader.decode(reader.logits([image]), DecodeOptions(), temperature=1.0)[0]
    assert calibrated.text == raw.text
    assert stored == 1.0 or calibrated.confidence != raw.confidence
    # Fitted for a beam search instead, with the same flags as predict.
    beam = cli("calibrate", run, tiny_dataset, "--beam", 2, "--length", "4-5")
    assert beam.code == 0, beam.err
    assert json.loads((run / "config.json").read_text(encoding="utf-8"))["temperature"] > 0
