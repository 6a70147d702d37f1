"""Export a run to one self-describing ONNX file, optionally quantized to int8.

The file carries everything inference needs in its metadata_props: the run's whole RunSpec as
JSON (so any field added to RunSpec travels without a change here) and readable keys for
other tools (charset, blank index, input size, channels, resize policy, normalisation,
version, training data, where it came from). `ctcocr.runtime.onnx_backend` reads it back
without torch.

Why the TorchScript-based exporter (`dynamo=False`): both exporters give logits equal to
PyTorch's within 1e-7 for the cnn and the crnn at batch sizes 1, 5 and 64, but the dynamo one
took 15-28 s per export instead of 2 s, wrote the weights to a second `.data` file, and
unrolled the LSTM's wiring into ~20 extra Slice/Concat nodes. The TorchScript one writes one
file with a single ONNX `LSTM` node, which onnxruntime's int8 tools know how to quantize.

Reduced precision, measured with `ctcocr verify` on the 15-minute default crnn (2,000 fresh
CAPTCHAs, PyTorch 93.75%): fp16 storage 1.64 MB, 93.80%; int8 static 0.86 MB, 93.55%; int8
dynamic 0.84 MB, 93.60%. Static int8 needs `reduce_range` on CPUs without VNNI (2.0% without).

>>> export_onnx(Path("runs/captcha"), Path("captcha.onnx"), quantize="fp16").size_bytes
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)

from ctcocr.core.errors import ConfigError, DataError
from ctcocr.core.run_folder import RunSpec, check_out, write_atomic
from ctcocr.core.version import __version__
from ctcocr.data.images import ImageInput, preprocess_batch
from ctcocr.export.unread_rows import drop_unread_rows
from ctcocr.network.weights import load_network
from ctcocr.runtime.onnx_backend import SPEC_KEY

Quantization = Literal["none", "fp16", "dynamic", "static"]
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
OPSET = 17
CALIBRATION_IMAGES = 256
# Calibration images are drawn from a seed the training and validation streams never use.
CALIBRATION_SEED_OFFSET = 2_000_003


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    quantization: Quantization


def export_onnx(
    run_dir: Path,
    out: Path,
    quantize: Quantization = "none",
    calibration: Path | None = None,
) -> ExportResult:
    """Write run_dir's best model to `out` as ONNX with a dynamic batch size."""
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"{out}: name the exported file *.onnx")
    if quantize not in ("none", "fp16", "dynamic", "static"):
        raise ConfigError(f"quantize={quantize!r}: use none, fp16, dynamic or static")
    check_out(out, folder=False, flag="")
    network, spec = load_network(run_dir)
    with tempfile.TemporaryDirectory(prefix="ctcocr-export-") as scratch:
        float_path = Path(scratch) / "float.onnx"
        _export_float(network, spec, float_path)
        model_path = float_path
        if quantize not in ("none", "fp16"):
            model_path = Path(scratch) / "int8.onnx"
            images = _calibration_images(spec, calibration) if quantize == "static" else []
            _quantize(float_path, model_path, quantize, spec, images)
        model = onnx.load(str(model_path))
    if quantize == "fp16":
        store_half(model)
    set_metadata(model, metadata(spec, run_dir, quantize))
    write_atomic(out, lambda tmp: onnx.save(model, str(tmp)))
    return ExportResult(out, out.stat().st_size, quantize)


def _export_float(network: torch.nn.Module, spec: RunSpec, path: Path) -> None:
    pre = spec.preprocess
    example = torch.zeros(2, pre.channels, pre.height, pre.width)  # (B, C, H, W)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter warns that it is deprecated and about LSTM batch sizes;
        # the parity tests and `ctcocr verify` are what guard the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load(str(path))
    if drop_unread_rows(model):  # the same logits, less work (export/unread_rows.py)
        onnx.save(model, str(path))


def store_half(model: onnx.ModelProto) -> None:
    """Store the float32 weights as float16, each followed by a Cast back to float32: half the
    file, and float32 arithmetic (onnxruntime folds the casts once, when a session opens)."""
    casts = []
    for weight in model.graph.initializer:
        if weight.data_type != onnx.TensorProto.FLOAT or np.prod(weight.dims) < 16:
            continue  # small tensors (shapes, scalars) gain nothing
        values = numpy_helper.to_array(weight)
        weight.CopyFrom(numpy_helper.from_array(values.astype(np.float16), weight.name + ".fp16"))
        casts.append(
            onnx.helper.make_node("Cast", [weight.name], [weight.name[: -len(".fp16")]], to=1)
        )
    for index, cast in enumerate(casts):
        model.graph.node.insert(index, cast)


def metadata(spec: RunSpec, run_dir: Path, quantize: Quantization) -> dict[str, str]:
    """The metadata_props of an exported model: the RunSpec plus readable keys."""
    pre = spec.preprocess
    return {
        SPEC_KEY: json.dumps(spec.to_json(), ensure_ascii=False),
        "charset": spec.charset.chars,
        "blank_index": "0",
        "input_size": f"{pre.width}x{pre.height}",
        "input_layout": "NCHW float32",
        "channels": str(pre.channels),
        "resize": pre.resize,
        "frames": pre.frames,  # animated images: "first" frame, or "merge" every frame
        "keep_color": pre.keep_color or "",  # "" : no colour filter
        "color_tolerance": str(pre.color_tolerance),
        "normalisation": "pixel * 2 / 255 - 1 (range -1..1)",
        "architecture": spec.model.architecture,
        "time_steps": str(spec.model.time_steps),
        "ctcocr_version": __version__,
        "training_data": json.dumps(spec.training.get("data", {}), ensure_ascii=False),
        "source_run": str(run_dir),
        "quantization": quantize,
    }


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "ctcocr"
    model.producer_version = __version__


def _quantize(
    source: Path, out: Path, mode: Quantization, spec: RunSpec, images: list[ImageInput]
) -> None:
    """int8 weights. `dynamic`: activations quantized at run time (onnxruntime's ConvInteger,
    slower than float32 on an AVX2 CPU in a first, noisy measurement). `static`: int8 activation
    ranges fixed from
    calibration images (QDQ, fast), and the LSTM, which static QDQ leaves in float32 (2.0 MB
    for the default crnn, over the 2 MB budget), gets int8 weights dynamically (0.86 MB)."""
    prepared = out.with_name("prepared.onnx")
    with warnings.catch_warnings(), _quiet_logging():
        warnings.simplefilter("ignore")
        # Shape inference and graph fusions first, as onnxruntime's tools recommend.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        if mode == "dynamic":
            quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8)
            return
        quantize_static(
            str(prepared),
            str(out),
            _Calibration(spec, images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            # 7-bit weights: without VNNI (AVX2), onnxruntime's u8 x s8 kernels add pairs of
            # products in int16, which saturates with full-range weights. Measured: 2.0% without.
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        if spec.model.architecture == "crnn":
            quantize_dynamic(str(out), str(out), op_types_to_quantize=["LSTM"])


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """onnxruntime's tools log advice at WARNING on the root logger (e.g. "already quantized"
    when the LSTM pass meets the QDQ nodes, which is intended)."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class _Calibration(CalibrationDataReader):
    """Feeds onnxruntime's calibrator the calibration images, 32 per batch."""

    def __init__(self, spec: RunSpec, images: list[ImageInput]) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = (
            {INPUT_NAME: preprocess_batch(images[i : i + 32], spec.preprocess)}
            for i in range(0, len(images), 32)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _calibration_images(spec: RunSpec, calibration: Path | None) -> list[ImageInput]:
    """Images like the training data: --calibration DATA, else the data the run recorded."""
    from ctcocr.data.samples import read_samples

    if calibration is not None:
        return [s.path for s in read_samples(calibration)[:CALIBRATION_IMAGES]]
    data: dict[str, Any] = spec.training.get("data", {})
    if data.get("source") == "synthetic":
        from ctcocr.data.synth import CaptchaSynth, SynthConfig

        seed = spec.training.get("config", {}).get("seed", 0) + CALIBRATION_SEED_OFFSET
        synth = CaptchaSynth(SynthConfig(**data["synth"]), seed)
        return [synth.sample(i)[0] for i in range(CALIBRATION_IMAGES)]
    source = Path(data.get("source", ""))
    if not data.get("source") or not source.exists():
        raise DataError(
            f"the run's training data {str(source) or '(not recorded)'} is not here to "
            "calibrate static quantization: pass --calibration DATA (images like the training set)"
        )
    return [s.path for s in read_samples(source)[:CALIBRATION_IMAGES]]
