"""ctcocr export and verify: one ONNX file that reads exactly as its PyTorch run does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FAST, SMALL_MODEL
from safetensors.numpy import load_file, save_file

from ctcocr.cli.main import main
from ctcocr.core.run_folder import file_sha256, read_spec, record_weights_sha256
from ctcocr.data.images import preprocess_batch
from ctcocr.runtime.onnx_backend import OnnxBackend
from ctcocr.runtime.recognizer import Recognizer


def _images(dataset: Path) -> list[Path]:
    return sorted((dataset / "images").glob("*.png"))


@pytest.fixture(scope="module")
def cnn_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> Path:
    run = tmp_path_factory.mktemp("cnn") / "run"
    args = ["train", str(tiny_dataset), "--out", str(run), "--model", "cnn", *FAST, *SMALL_MODEL]
    assert main(args) == 0
    return run


@pytest.mark.parametrize("architecture", ["crnn", "cnn"])
def test_export_reads_like_pytorch_at_every_batch_size(
    architecture, tiny_run, cnn_run, tiny_dataset, tmp_path
):
    run = tiny_run if architecture == "crnn" else cnn_run
    from ctcocr.export.onnx_export import export_onnx
    from ctcocr.runtime.torch_backend import TorchBackend

    out = export_onnx(run, tmp_path / "m.onnx").path
    onnx_backend, torch_backend = OnnxBackend(out), TorchBackend(run, read_spec(run))
    images = _images(tiny_dataset)
    for size in (1, 3, 17):
        batch = preprocess_batch(images[:size], read_spec(run).preprocess)
        found, expected = onnx_backend.logits(batch), torch_backend.logits(batch)
        assert found.shape == expected.shape == (size, 32, read_spec(run).charset.num_classes)
        assert np.abs(found - expected).max() < 1e-4


def test_export_metadata_holds_the_run_spec_and_readable_keys(tiny_run, tiny_onnx):
    props = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    spec = read_spec(tiny_run)
    assert json.loads(props["ctcocr.run_spec"]) == json.loads(json.dumps(spec.to_json()))
    assert props["charset"] == spec.charset.chars
    assert props["blank_index"] == "0"
    assert props["input_size"] == "128x64"
    assert props["channels"] == "1"
    assert props["resize"] == "stretch"
    assert "255" in props["normalisation"]
    assert props["ctcocr_version"] == spec.version
    assert json.loads(props["training_data"])["train"] > 0
    assert props["source_run"] == str(tiny_run)
    assert props["quantization"] == "none"


def test_export_command_reports_size(cli, tiny_run, tmp_path):
    result = cli("export", tiny_run, tmp_path / "m.onnx")
    assert result.code == 0
    size = (tmp_path / "m.onnx").stat().st_size
    assert f"{size / 1e6:.2f} MB" in result.out


def test_export_refuses_a_name_without_onnx(cli, tiny_run, tmp_path):
    result = cli("export", tiny_run, tmp_path / "model.bin")
    assert result.code == 2
    assert "*.onnx" in result.err


def test_verify_float_export_passes_with_identical_predictions(cli, tiny_onnx, tiny_dataset):
    result = cli("verify", tiny_onnx, tiny_dataset, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["passed"] and report["different_predictions"] == 0
    assert report["count"] == 48
    assert report["max_logit_difference"] < 1e-4


def test_verify_fails_when_the_run_reads_differently(cli, tiny_run, tiny_dataset, tmp_path):
    import shutil

    from ctcocr.export.onnx_export import export_onnx

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    model = export_onnx(run, tmp_path / "m.onnx").path
    weights = load_file(str(run / "model.safetensors"))
    bias = weights["classifier.bias"]
    bias[1:] += np.linspace(0, 40, bias.size - 1, dtype=np.float32)  # now reads class N-1
    save_file(weights, str(run / "model.safetensors"))
    # a deliberate change, not damage: record the new weights' hash as training would
    record_weights_sha256(run, file_sha256(run / "model.safetensors"))
    result = cli("verify", model, tiny_dataset)
    assert result.code == 1
    assert "FAILED" in result.out
    assert "predictions that differ   48" in result.out


def test_verify_refuses_a_run_it_was_not_exported_from(cli, tiny_onnx, cnn_run, tiny_dataset):
    result = cli("verify", tiny_onnx, tiny_dataset, "--run", cnn_run)
    assert result.code == 2
    assert "not exported from" in result.err and "--run" in result.err


# int8 weights take a quarter of float32's bytes, float16 half.
@pytest.mark.parametrize(("mode", "share"), [("dynamic", 0.3), ("static", 0.3), ("fp16", 0.55)])
def test_reduced_precision_export_is_smaller_and_verify_prints_both_accuracies(
    cli, tiny_run, tiny_onnx, tiny_dataset, tmp_path, mode, share
):
    small = tmp_path / "q.onnx"
    assert cli("export", tiny_run, small, "--quantize", mode).code == 0
    assert small.stat().st_size < share * tiny_onnx.stat().st_size
    assert Recognizer(small).metadata["quantization"] == mode
    result = cli("verify", small, tiny_dataset)
    assert result.code == 0, result.out + result.err
    assert f"{mode} quantization" in result.out and "torch" in result.out and "onnx" in result.out
    # A negative tolerance cannot be met: the same check fails.
    assert cli("verify", small, tiny_dataset, "--tolerance", "-1").code == 1


def test_static_quantization_without_the_training_data_asks_for_calibration(
    cli, tiny_run, tiny_dataset, tmp_path
):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    spec = json.loads((run / "config.json").read_text())
    spec["training"]["data"]["source"] = str(tmp_path / "gone")
    (run / "config.json").write_text(json.dumps(spec))
    result = cli("export", run, tmp_path / "q.onnx", "--quantize", "static")
    assert result.code == 2 and "--calibration" in result.err
    given = cli(
        "export", run, tmp_path / "q.onnx", "--quantize", "static", "--calibration", tiny_dataset
    )
    assert given.code == 0, given.err
