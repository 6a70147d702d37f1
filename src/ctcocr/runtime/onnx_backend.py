"""Run an exported model with onnxruntime: inference with numpy, Pillow and onnxruntime only.

The ONNX file describes itself: `ctcocr export` stores the run's RunSpec in its metadata, so the
same `preprocess` and `ctc_greedy_decode` as the torch path read it. Never imports torch.

>>> backend = OnnxBackend(Path("captcha.onnx"))
>>> backend.logits(preprocess_batch(["a.png"], backend.spec.preprocess)).shape
(1, 32, 37)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import RunSpec

SPEC_KEY = "ctcocr.run_spec"  # the same key ctcocr.export.onnx_export writes


def session_options(threads: int = 0) -> ort.SessionOptions:
    """threads=0 lets onnxruntime pick (one per physical core); 1 suits many small requests."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # the graph is a chain: no parallel branches to run
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


class OnnxBackend:
    """One onnxruntime session for one exported model.

    Thread-safe without a lock: onnxruntime allows concurrent `run` calls on one session.
    """

    def __init__(self, path: Path, threads: int = 0) -> None:
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unrelated types for a bad file
            raise ModelFileError(
                f"{path}: not an ONNX model onnxruntime can load "
                f"({str(exc).splitlines()[0]}): export it again with `ctcocr export`"
            ) from exc
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.spec = spec_from_metadata(self.metadata, str(path))
        self._input = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 -> (B, T, num_classes) float32, in one session run."""
        if len(batch) == 0:
            classes = self.spec.charset.num_classes
            return np.zeros((0, self.spec.model.time_steps, classes), np.float32)
        return self.session.run(None, {self._input: batch})[0]


def spec_from_metadata(metadata: dict[str, str], where: str) -> RunSpec:
    """The RunSpec that `ctcocr export` stored in an ONNX file's metadata."""
    text = metadata.get(SPEC_KEY)
    if text is None:
        raise ModelFileError(
            f"{where}: an ONNX file without ctcocr metadata ({SPEC_KEY}): "
            "use a file written by `ctcocr export`"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: damaged ctcocr metadata ({exc}): export it again") from exc
    if not isinstance(data, dict):
        raise ModelFileError(f"{where}: damaged ctcocr metadata (not an object): export it again")
    return RunSpec.from_json(data, where)
