"""Can int8 make the shipped general model faster without losing what it reads?

    python benchmarks/quantization.py                  # the general model, 2,000 mix images
    python benchmarks/quantization.py --count 500 --rounds 1    # a smoke run

The general model ships as float32 because `ctcocr export --quantize static` lost 0.95 points
in `ctcocr verify` (the tolerance is 0.1). This script asks whether other settings of
onnxruntime's static quantization would pass: it exports the run once in float32 (which reads
exactly as PyTorch), then quantizes that file with each setting, calibrated on fresh images of
the run's own synthetic style (never the test images), and reads the same test images with
every file. Test images: `ctcocr synth --style mix --length 3-8 --count 2000 --seed 424243`,
the set `make general-model` verifies on, drawn into a temporary folder.

Per setting: sequence accuracy, points lost against float32 (`verify` passes a quantized model
at 0.1 or less), readings that differ, and the model alone (no PNG decoding) at batch 1,
median of `--rounds` rounds of 300 calls, 1 thread and onnxruntime's default, and batched.
Settings (all QDQ, per-channel int8 weights at 7 bits as `ctcocr export` uses, uint8
activations): the activation ranges from MinMax (the export's), Percentile or Entropy
calibration, on 256 or 1,024 images; optionally leaving the first convolution and the
classifier in float32.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from real import ctcocr

from ctcocr.core.run_folder import RunSpec, read_spec
from ctcocr.data.images import preprocess_batch
from ctcocr.data.samples import read_samples
from ctcocr.data.synth import CaptchaSynth, SynthConfig
from ctcocr.decoding.greedy import ctc_greedy_decode
from ctcocr.export.onnx_export import export_onnx
from ctcocr.runtime.onnx_backend import session_options
from ctcocr.runtime.shipped import shipped_run

CPU = "CPUExecutionProvider"
TEST_SEED = 424243  # the general model's verify set (Makefile, general-model)
CALIBRATION_SEED = 12345  # fresh images, neither the test set nor the export's calibration set
SETTINGS = {
    "minmax-256 (`ctcocr export --quantize static`'s settings)": ("MinMax", 256, False),
    "minmax-1024": ("MinMax", 1024, False),
    "percentile-256": ("Percentile", 256, False),
    "entropy-1024": ("Entropy", 1024, False),
    "minmax-256, first conv and classifier float": ("MinMax", 256, True),
    "percentile-1024, first conv and classifier float": ("Percentile", 1024, True),
}


class _Images(CalibrationDataReader):
    def __init__(self, name: str, batch: np.ndarray) -> None:
        self._feeds = iter([{name: batch[i : i + 32]} for i in range(0, len(batch), 32)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def calibration_batch(spec: RunSpec, count: int) -> np.ndarray:
    synth = CaptchaSynth(SynthConfig(**spec.training["data"]["synth"]), CALIBRATION_SEED)
    return preprocess_batch([synth.sample(i)[0] for i in range(count)], spec.preprocess)


def quantized(prepared: Path, out: Path, spec: RunSpec, setting: tuple[str, int, bool]) -> Path:
    method, count, keep_ends = setting
    model = onnx.load(str(prepared))
    convs = [node.name for node in model.graph.node if node.op_type == "Conv"]
    classifier = [node.name for node in model.graph.node if node.op_type in ("MatMul", "Gemm")]
    quantize_static(
        str(prepared),
        str(out),
        _Images(model.graph.input[0].name, calibration_batch(spec, count)),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method),
        nodes_to_exclude=[convs[0], *classifier] if keep_ends else [],
    )
    return out


def read_all(path: Path, batch: np.ndarray, spec: RunSpec) -> list[str]:
    session = ort.InferenceSession(
        str(path), session_options(0), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    logits = [session.run(None, {name: batch[i : i + 64]})[0] for i in range(0, len(batch), 64)]
    return [p.text for p in ctc_greedy_decode(np.concatenate(logits), spec.charset)]


def speed(path: Path, batch: np.ndarray, rounds: int) -> dict[str, float]:
    """Model-only milliseconds at batch 1 (1 thread, default threads) and images/s batched."""
    found: dict[str, list[float]] = {"1 thread": [], "default threads": [], "batched": []}
    sessions = {
        threads: ort.InferenceSession(str(path), session_options(threads), providers=[CPU])
        for threads in (1, 0)
    }
    name = sessions[0].get_inputs()[0].name
    one, many = batch[:1], batch[:64]
    for _ in range(rounds):
        for threads, label in ((1, "1 thread"), (0, "default threads")):
            started = time.perf_counter()
            for _ in range(300):
                sessions[threads].run(None, {name: one})
            found[label].append((time.perf_counter() - started) / 300 * 1000)
        started = time.perf_counter()
        for _ in range(10):
            sessions[0].run(None, {name: many})
        found["batched"].append(10 * len(many) / (time.perf_counter() - started))
    return {label: statistics.median(values) for label, values in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run folder (default: the shipped general)")
    parser.add_argument("--count", type=int, default=2000, help="test images of the run's style")
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds (medians)")
    args = parser.parse_args()
    run = args.run or shipped_run("general")
    if run is None:
        raise SystemExit("no shipped general run folder: give --run")
    spec = read_spec(run)
    with tempfile.TemporaryDirectory(prefix="ctcocr-quantization-") as scratch:
        folder = Path(scratch)
        command = ["synth", str(folder / "test"), "--style", "mix", "--length", "3-8"]
        ctcocr(*command, "--count", str(args.count), "--seed", str(TEST_SEED))
        samples = read_samples(folder / "test")
        labels = [sample.label for sample in samples]
        batch = preprocess_batch([sample.path for sample in samples], spec.preprocess)
        float_path = export_onnx(run, folder / "float32.onnx").path
        prepared = folder / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        reference = read_all(float_path, batch, spec)
        base = 100 * np.mean([a == b for a, b in zip(reference, labels, strict=True)])
        rows = [("float32 (ships)", float_path)]
        rows += [
            (label, quantized(prepared, folder / f"int8-{i}.onnx", spec, setting))
            for i, (label, setting) in enumerate(SETTINGS.items())
        ]
        print(f"{run}: {args.count} fresh mix images (seed {TEST_SEED}); float32 reads {base:.2f}%")
        print("\n| file | accuracy | points lost | readings differ | verify (≤ 0.1) "
              "| batch 1, 1 thread | batch 1, default threads | batched images/s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for label, path in rows:
            texts = read_all(path, batch, spec)
            accuracy = 100 * np.mean([a == b for a, b in zip(texts, labels, strict=True)])
            differ = sum(a != b for a, b in zip(texts, reference, strict=True))
            lost = base - accuracy
            timing = speed(path, batch, args.rounds)
            print(
                f"| {label} | {accuracy:.2f}% | {lost:+.2f} | {differ} | "
                f"{'passes' if lost <= 0.1 + 1e-9 else 'fails'} | {timing['1 thread']:.3f} ms | "
                f"{timing['default threads']:.3f} ms | {timing['batched']:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
