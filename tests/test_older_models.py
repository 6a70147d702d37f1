"""Run folders and ONNX files written before the package moved into stage subpackages still load
and read exactly as they did: tests/fixtures/before-layout/ was made by ctcocr 0.1.0 at commit
b228b14 (a tiny crnn, one epoch), with the logits that version computed for image.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctcocr import Recognizer

BEFORE = Path(__file__).parent / "fixtures" / "before-layout"


@pytest.mark.parametrize("model", ["run", "model.onnx"])
def test_a_model_from_before_the_move_reads_as_it_did(model):
    expected = np.array(json.loads((BEFORE / "logits.json").read_text())[model])
    reader = Recognizer(BEFORE / model)
    logits = reader.logits([BEFORE / "image.png"])
    assert logits.shape == (1, *expected.shape)
    assert np.allclose(logits[0], expected, atol=1e-4)
    assert reader.spec.version == "0.1.0"
    assert reader.predict(BEFORE / "image.png") == reader.decode(logits)[0]


def test_a_run_from_before_the_move_fine_tunes(cli, tmp_path, tiny_dataset):
    result = cli(
        "train", tiny_dataset, "--out", tmp_path / "tuned", "--init", BEFORE / "run",
        "--epochs", "1", "--batch-size", "16", "--workers", "0", "--min-epoch-images", "0",
    )  # fmt: skip
    assert result.code == 0, result.err
    tuned, before = Recognizer(tmp_path / "tuned").spec, Recognizer(BEFORE / "run").spec
    assert tuned.preprocess == before.preprocess and tuned.model == before.model
