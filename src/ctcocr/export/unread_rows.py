"""Leave out of an exported graph the convolution rows that no later layer reads.

A max-pool of height 2 over an odd number of rows reads the first rows and drops the last
(3 rows -> 1, 5 -> 2). The convolution that makes those rows need not make the last one: with
one row less of padding below, it makes exactly the others. In the general model (160x48
input) the last stage's second convolution, the network's costliest, works on 3 rows of which
the pool reads 2; without the third its export reads an image in 0.26 ms instead of 0.29
(docs/general-model.md). The logits are the same to the last bit: the rows kept are computed
from the same inputs and weights.

Only the ONNX file changes: training keeps plain convolutions. (A PyTorch module with uneven
padding exports a Pad in front of the convolution, which onnxruntime's optimizer leaves as a
node of its own, and a chain of shape arithmetic with it; editing the padding here does not.)

>>> trimmed = drop_unread_rows(model)   # names of the convolutions that now make fewer rows
"""

from __future__ import annotations

import onnx
from onnx import helper


def drop_unread_rows(model: onnx.ModelProto) -> list[str]:
    """Edit `model` in place: every stride-1 Conv whose output height is odd and goes (through
    a Relu or not) only into a MaxPool of height 2, stride 2, no padding, floor rounding, pads
    one row less at the bottom. Returns the names of the convolutions changed."""
    heights = _output_heights(model)
    users = _consumers(model.graph)
    trimmed = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        pads = _ints(node, "pads")
        height = heights.get(node.output[0])
        if (
            height is None
            or height < 3
            or height % 2 == 0
            or not pads
            or pads[2] < 1  # (top, left, bottom, right): a row of padding below to give up
            or _ints(node, "strides", [1, 1])[0] != 1
            or not _only_read_by_half_height_pool(node.output[0], users)
        ):
            continue
        pads[2] -= 1
        _set_ints(node, "pads", pads)
        trimmed.append(node.name)
    return trimmed


def _only_read_by_half_height_pool(tensor: str, users: dict[str, list[onnx.NodeProto]]) -> bool:
    readers = users.get(tensor, [])
    if len(readers) != 1:
        return False
    reader = readers[0]
    if reader.op_type == "Relu":  # elementwise: row for row
        return _only_read_by_half_height_pool(reader.output[0], users)
    if reader.op_type != "MaxPool":
        return False
    kernel = _ints(reader, "kernel_shape")
    strides = _ints(reader, "strides", [1] * len(kernel))
    pads = _ints(reader, "pads", [0] * 2 * len(kernel))
    ceil = _ints_value(reader, "ceil_mode", 0)
    implicit = [a.s for a in reader.attribute if a.name == "auto_pad"]  # SAME_* pads unseen
    dilations = _ints(reader, "dilations", [1] * len(kernel))
    return (
        len(kernel) == 2
        and kernel[0] == 2
        and strides[0] == 2
        and dilations[0] == 1
        and not any(pads)
        and implicit in ([], [b"NOTSET"], [b"VALID"])
        and ceil == 0
    )


def _output_heights(model: onnx.ModelProto) -> dict[str, int]:
    """Each 4-D tensor's height (dimension 2) where shape inference knows it."""
    inferred = onnx.shape_inference.infer_shapes(model)
    heights = {}
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[2].HasField("dim_value"):
            heights[value.name] = dims[2].dim_value
    return heights


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for output in graph.output:  # a graph output is read from outside: keep all its rows
        users.setdefault(output.name, []).append(onnx.NodeProto(op_type="GraphOutput"))
    return users


def _ints(node: onnx.NodeProto, name: str, default: list[int] | None = None) -> list[int]:
    for attribute in node.attribute:
        if attribute.name == name:
            return list(attribute.ints)
    return list(default or [])


def _ints_value(node: onnx.NodeProto, name: str, default: int) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default


def _set_ints(node: onnx.NodeProto, name: str, values: list[int]) -> None:
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, values)])
