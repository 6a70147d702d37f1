"""The export leaves out convolution rows no pool reads, and the logits stay PyTorch's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ctcocr.core.run_folder import read_spec
from ctcocr.data.images import preprocess_batch
from ctcocr.data.synth import png_samples
from ctcocr.export.onnx_export import export_onnx
from ctcocr.export.unread_rows import drop_unread_rows
from ctcocr.runtime.onnx_backend import OnnxBackend
from ctcocr.runtime.shipped import shipped_run
from ctcocr.runtime.torch_backend import TorchBackend


def _pads(model: onnx.ModelProto) -> dict[str, list[int]]:
    return {
        node.name: list(next(a.ints for a in node.attribute if a.name == "pads"))
        for node in model.graph.node
        if node.op_type == "Conv"
    }


def test_general_export_drops_the_row_its_last_pool_never_reads(tmp_path, one_torch_thread):
    """160x48: the last stage works on 3 rows and its pool reads 2; logits equal PyTorch's."""
    run = shipped_run("general")
    assert run is not None
    out = export_onnx(run, tmp_path / "general.onnx").path
    pads = _pads(onnx.load(str(out)))
    trimmed = [name for name, p in pads.items() if p == [1, 1, 0, 1]]
    assert trimmed == ["/backbone/convs/convs.8/convs.8.0/Conv"]
    spec = read_spec(run)
    onnx_backend, torch_backend = OnnxBackend(out), TorchBackend(run, spec)
    images = png_samples(5, seed=3)
    for size in (1, 5):
        batch = preprocess_batch(images[:size], spec.preprocess)
        found, expected = onnx_backend.logits(batch), torch_backend.logits(batch)
        assert found.shape == expected.shape
        assert np.abs(found - expected).max() < 1e-4


def _graph(height: int, pool: dict, relu: bool = True, extra_reader: bool = False):
    """images (1, 2, height, 4) -> Conv 3x3 pad 1 -> [Relu] -> MaxPool -> out."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    pooled_input = "c"
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        pooled_input = "r"
    nodes.append(helper.make_node("MaxPool", [pooled_input], ["y"], **pool))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader:
        nodes.append(helper.make_node("Identity", ["c"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, height, 4])],
        outputs,
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


HALF_HEIGHT = {"kernel_shape": [2, 1], "strides": [2, 1]}


@pytest.mark.parametrize("height", [3, 5, 7])
@pytest.mark.parametrize("relu", [True, False])
def test_an_odd_height_before_a_half_height_pool_is_trimmed_with_the_same_output(height, relu):
    model = _graph(height, HALF_HEIGHT, relu)
    x = np.random.default_rng(1).normal(size=(2, 2, height, 4)).astype(np.float32)
    before = _run(model, x)
    assert drop_unread_rows(model) == ["conv"]
    assert _pads(model)["conv"] == [1, 1, 0, 1]
    after = _run(model, x)
    assert np.array_equal(before[0], after[0])


@pytest.mark.parametrize(
    "height, pool, extra_reader",
    [
        (4, HALF_HEIGHT, False),  # even: the pool reads every row
        (1, HALF_HEIGHT, False),  # nothing to give up
        (3, {**HALF_HEIGHT, "ceil_mode": 1}, False),  # ceil rounding reads the last row
        (3, {**HALF_HEIGHT, "pads": [0, 0, 1, 0]}, False),  # padded pool reads it too
        (3, {**HALF_HEIGHT, "auto_pad": "SAME_UPPER"}, False),  # so does implicit padding
        (3, {"kernel_shape": [3, 1], "strides": [2, 1]}, False),  # a taller window
        (3, {"kernel_shape": [2, 1], "strides": [1, 1]}, False),  # overlapping windows
        (3, HALF_HEIGHT, True),  # another node reads the convolution's every row
    ],
)
def test_rows_something_reads_are_kept(height, pool, extra_reader):
    model = _graph(height, pool, extra_reader=extra_reader)
    assert drop_unread_rows(model) == []
    assert _pads(model)["conv"] == [1, 1, 1, 1]


def test_the_default_style_export_has_nothing_to_trim(tiny_onnx: Path):
    """128x64 halves to even heights all the way: every convolution keeps its padding."""
    assert all(p == [1, 1, 1, 1] or not any(p) for p in _pads(onnx.load(str(tiny_onnx))).values())
