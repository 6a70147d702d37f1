"""`ctcocr explain` and `Recognizer.logits`: the per-step view agrees with what predict reads."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ctcocr import Recognizer
from ctcocr.core.charset import Charset
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.evaluation.explain import MAX_HEATMAP_ROWS, Explanation, explain, explanation_png


@pytest.fixture(scope="module")
def reader(tiny_run):
    return Recognizer(tiny_run)


def test_logits_decode_to_what_predict_reads(reader, tiny_dataset):
    images = sorted((tiny_dataset / "images").glob("*.png"))[:5]
    logits = reader.logits(images, batch_size=2)
    steps, classes = reader.spec.model.time_steps, reader.spec.charset.num_classes
    assert logits.shape == (5, steps, classes) and logits.dtype == np.float32
    temperature = reader.spec.temperature
    decoded = ctc_greedy_decode(logits / np.float32(temperature), reader.spec.charset)
    predicted = reader.predict_batch(images)
    assert [p.text for p in decoded] == [p.text for p in predicted]
    # batches of 2 and of 64 may sum in another order on some CPUs: the last bits can differ
    confidences = [p.confidence for p in predicted]
    assert [p.confidence for p in decoded] == pytest.approx(confidences, rel=1e-5)
    assert reader.logits([]).shape == (0, steps, classes)


def test_explanation_matches_the_prediction(reader, tiny_dataset):
    image = tiny_dataset / "images" / "000002.png"
    view = explain(reader, image)
    spec = reader.spec
    assert view.probabilities.shape == (spec.model.time_steps, spec.charset.num_classes)
    assert np.allclose(view.probabilities.sum(axis=1), 1.0)
    assert view.pixels.shape == (spec.preprocess.height, spec.preprocess.width)
    assert view.text == reader.predict(image).text
    assert len(view.step_labels()) == spec.model.time_steps
    assert len(view.emitting_steps()) == len(view.text)


def test_explanation_applies_the_models_temperature(tiny_run, tiny_dataset, tmp_path):
    """explain shows the confidence predict gives, temperature included (not a plain softmax)."""
    import shutil

    from ctcocr.evaluation.temperature import save_temperature

    run = tmp_path / "tempered"
    shutil.copytree(tiny_run, run)
    save_temperature(run, Recognizer(run).spec, 0.5)
    tempered = Recognizer(run)
    image = tiny_dataset / "images" / "000003.png"
    view, prediction = explain(tempered, image), tempered.predict(image)
    assert tempered.spec.temperature == 0.5
    assert view.text == prediction.text
    assert view.prediction.confidence == pytest.approx(prediction.confidence, rel=1e-4)
    assert view.prediction.char_confidences == pytest.approx(prediction.char_confidences, rel=1e-4)
    plain = explain(Recognizer(tiny_run), image).prediction.confidence
    assert view.prediction.confidence != pytest.approx(plain, rel=1e-3)


def test_steps_collapse_to_the_text():
    # blank, A, A, blank, A, B: repeats merge, a blank separates the two As
    charset = Charset("AB")
    path = [0, 1, 1, 0, 1, 2]
    probabilities = np.full((6, 3), 0.05)
    probabilities[np.arange(6), path] = 0.9
    view = Explanation(np.zeros((8, 12), np.uint8), probabilities, charset)
    assert view.step_labels() == ["-", "A", "A", "-", "A", "B"]
    assert view.text == "AAB"
    assert view.emitting_steps() == [1, 4, 5]


def test_many_classes_keep_the_strongest_rows():
    charset = Charset("".join(chr(0x41 + i) for i in range(26)) + "".join(str(i) for i in range(10))
                      + "abcdefghijklmnopqrstuvwxyz")  # fmt: skip
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(charset.num_classes) * 0.1, size=16)
    view = Explanation(np.full((16, 32, 3), 200, np.uint8), probabilities, charset)  # RGB
    png = explanation_png(view, truth="ABC", dpi=40)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
    from ctcocr.evaluation.explain import _heatmap_classes

    rows = _heatmap_classes(view)
    assert len(rows) == MAX_HEATMAP_ROWS and 0 in rows
    assert set(view.best_path) <= set(rows)  # every step's winner is on the map


def test_cli_explain_writes_the_view(cli, tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "view.png"
    result = cli("explain", tiny_run, tiny_dataset / "images" / "000001.png", "--out", out,
                 "--label", "AB12")  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.startswith("read ") and str(out) in result.out
    with Image.open(out) as image:
        assert image.format == "PNG" and image.height > image.width * 0.8


def test_cli_explain_missing_image(cli, tiny_run, tmp_path):
    result = cli("explain", tiny_run, tmp_path / "nope.png", "--out", tmp_path / "v.png")
    assert result.code == 2 and "nope.png" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "v.png").exists()
