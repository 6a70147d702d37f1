"""Check an exported model against the PyTorch run it came from, on real images.

A float export passes only when every prediction is identical to PyTorch's. A quantized one
(int8) reads slightly different logits by design: it passes when its sequence accuracy is at
most `tolerance` points below PyTorch's. Both report the largest logit difference.

The run is found from the ONNX file's `source_run` metadata (the path given to `ctcocr
export`) unless `run` is given; the run's RunSpec must equal the one stored in the file.

>>> verify(Path("captcha.onnx"), Path("test/")).passed
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import read_spec
from ctcocr.data.images import ImageInput, preprocess_batch
from ctcocr.data.samples import read_samples
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.evaluation.scores import score
from ctcocr.runtime.onnx_backend import OnnxBackend
from ctcocr.runtime.torch_backend import TorchBackend


@dataclass(frozen=True)
class VerifyReport:
    count: int
    quantization: str
    max_logit_difference: float
    different_predictions: int
    torch_accuracy: float
    onnx_accuracy: float
    tolerance: float  # points of sequence accuracy a quantized model may lose
    passed: bool

    def accuracy_drop(self) -> float:
        """Points of sequence accuracy the ONNX model loses against PyTorch."""
        return 100.0 * (self.torch_accuracy - self.onnx_accuracy)

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "accuracy_drop_points": self.accuracy_drop()}


def source_run(backend: OnnxBackend, model: Path, run: Path | None) -> Path:
    """The run folder to compare with, checked to be the one the model was exported from."""
    if run is None:
        recorded = backend.metadata.get("source_run")
        if not recorded:
            raise ModelFileError(f"{model}: no source run recorded: pass --run RUN")
        run = Path(recorded)
    if not run.is_dir():
        raise ModelFileError(
            f"{run}: the source run of {model} is not here: pass --run RUN (the run folder "
            "it was exported from)"
        )
    stored = json.loads(json.dumps(backend.spec.to_json()))
    if json.loads(json.dumps(read_spec(run).to_json())) != stored:
        raise ModelFileError(
            f"{model} was not exported from {run} (their configs differ): pass the right --run"
        )
    return run


def verify(
    model: Path,
    data: Path,
    run: Path | None = None,
    tolerance: float = 0.1,
    label_pattern: str | None = None,
    batch_size: int = 64,
) -> VerifyReport:
    """Run `data` through PyTorch and onnxruntime and compare what they read."""
    onnx = OnnxBackend(model)
    run = source_run(onnx, model, run)
    torch_backend = TorchBackend(run, onnx.spec)
    samples = read_samples(data, label_pattern) if label_pattern else read_samples(data)
    labels = [s.label for s in samples]
    largest = 0.0
    torch_texts: list[str] = []
    onnx_texts: list[str] = []
    for start in range(0, len(samples), batch_size):
        chunk: list[ImageInput] = [s.path for s in samples[start : start + batch_size]]
        batch = preprocess_batch(chunk, onnx.spec.preprocess)  # (B, C, H, W), shared by both
        expected, found = torch_backend.logits(batch), onnx.logits(batch)  # (B, T, classes)
        largest = max(largest, float(np.abs(expected - found).max()))
        torch_texts += [p.text for p in ctc_greedy_decode(expected, onnx.spec.charset)]
        onnx_texts += [p.text for p in ctc_greedy_decode(found, onnx.spec.charset)]
    different = sum(a != b for a, b in zip(torch_texts, onnx_texts, strict=True))
    torch_accuracy = score(labels, torch_texts).sequence_accuracy
    onnx_accuracy = score(labels, onnx_texts).sequence_accuracy
    quantization = onnx.metadata.get("quantization", "none")
    if quantization == "none":
        passed = different == 0
    else:
        passed = 100.0 * (torch_accuracy - onnx_accuracy) <= tolerance + 1e-9
    return VerifyReport(
        count=len(samples),
        quantization=quantization,
        max_logit_difference=largest,
        different_predictions=different,
        torch_accuracy=torch_accuracy,
        onnx_accuracy=onnx_accuracy,
        tolerance=tolerance,
        passed=passed,
    )
