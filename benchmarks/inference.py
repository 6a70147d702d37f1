"""Inference speed on the same images: ctcocr ONNX (fp32, fp16, int8), ctcocr PyTorch, ddddocr.

    python benchmarks/inference.py --run runs/pretrained            # the full table
    python benchmarks/inference.py --run runs/pretrained --images 50 --rounds 1   # a smoke run
    python benchmarks/inference.py --model fast=runs/fast.onnx   # a candidate beside the shipped

Every reader gets encoded PNG bytes, so image decoding is counted. Batch-1 latency is one
`predict(png_bytes)` call (ddddocr: `classification(png_bytes)`), median and p99 over every
image of every round; throughput is `predict_batch` over all images, 64 at a time (ddddocr has
no batch call, so its row repeats one image at a time). Readers are interleaved round by round
so that a busy machine slows them alike. The run is exported to float32 ONNX in a
temporary folder (also fp16 weights and int8 dynamic/static: their accuracy is `ctcocr verify`'s
job, not this script's); onnxruntime rows are measured with 1 intra-op thread and with its default
(one per core). Without --run, only the shipped model and ddddocr are measured.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peers

from ctcocr import Recognizer
from ctcocr.data.synth import SynthConfig, png_samples

Reader = tuple[Callable[[bytes], Any], Callable[[list[bytes]], Any] | None]


def png_images(count: int, seed: int) -> list[bytes]:
    """Fresh default-style CAPTCHAs (128x64, length 4-6), PNG-encoded."""
    return png_samples(count, seed)


def ctcocr_reader(model: Path, threads: int = 0) -> Reader:
    reader = Recognizer(model, threads=threads)
    return reader.predict, lambda images: reader.predict_batch(images, batch_size=64)


def ddddocr_reader() -> Reader | None:
    """ddddocr's one call per image (it has no batch call); None if not installed."""
    read = peers.ddddocr_reader()
    return None if read is None else (read, None)


def readers(
    run: Path | None, folder: Path, models: dict[str, Path]
) -> tuple[dict[str, Reader], list[str]]:
    notes: list[str] = []
    found: dict[str, Reader] = {}
    for name, path in models.items():  # candidates (--model), measured as the shipped ones are
        for threads, label in ((1, "1 thread"), (0, "default threads")):
            found[f"{name}, ONNX, {label}"] = ctcocr_reader(path, threads)
    if run is not None:
        from ctcocr.data.synth import write_dataset
        from ctcocr.export.onnx_export import export_onnx

        # Calibration images from another seed than the measured ones (a run's recorded
        # training data may live elsewhere).
        calibration = write_dataset(folder / "calibration", 256, SynthConfig(), seed=7)
        models = {
            "fp32": export_onnx(run, folder / "fp32.onnx").path,
            "fp16 weights": export_onnx(run, folder / "fp16.onnx", "fp16").path,
            "int8 dynamic": export_onnx(run, folder / "dyn.onnx", "dynamic").path,
            "int8 static": export_onnx(run, folder / "static.onnx", "static", calibration).path,
        }
        for threads in (1, 0):
            label = "1 thread" if threads == 1 else "default threads"
            for kind, path in models.items():
                found[f"ctcocr ONNX {kind}, {label}"] = ctcocr_reader(path, threads)
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads()))
        found["ctcocr PyTorch"] = ctcocr_reader(run)
    else:
        from ctcocr.runtime.shipped import DEFAULT, SHIPPED, shipped_path

        for name in SHIPPED:  # the default first: it is what `predict` uses when none is named
            shown = f"{name} (the default)" if name == DEFAULT else name
            for threads, label in ((1, "1 thread"), (0, "default threads")):
                reader = ctcocr_reader(shipped_path(name), threads)
                found[f"ctcocr {shown}, shipped ONNX, {label}"] = reader
        notes.append("no --run: the shipped files only (PyTorch and other precisions skipped)")
    dddd = ddddocr_reader()
    if dddd is None:
        notes.append("ddddocr is not installed (pip install 'ctcocr[bench]'): its row skipped")
    else:
        found["ddddocr"] = dddd
    return found, notes


def measure(found: dict[str, Reader], images: list[bytes], rounds: int) -> dict[str, dict]:
    latencies: dict[str, list[float]] = {name: [] for name in found}
    rates: dict[str, list[float]] = {name: [] for name in found}
    for single, _ in found.values():
        single(images[0])  # warm-up: first-call allocations are not what a service sees
    for _ in range(rounds):
        for name, (single, batch) in found.items():
            for image in images:
                start = time.perf_counter()
                single(image)
                latencies[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            if batch is None:
                for image in images:
                    single(image)
            else:
                batch(images)
            rates[name].append(len(images) / (time.perf_counter() - start))
    return {
        name: {
            "median_ms": 1e3 * statistics.median(latencies[name]),
            "p99_ms": 1e3 * sorted(latencies[name])[int(0.99 * (len(latencies[name]) - 1))],
            "images_per_s": statistics.median(rates[name]),
        }
        for name in found
    }


def named_model(value: str) -> tuple[str, Path]:
    """NAME=PATH -> (NAME, PATH), the file checked now rather than after the images are drawn."""
    name, _, path = value.partition("=")
    if not name or not path or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"{value!r}: give NAME=PATH of an existing .onnx file")
    return name, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder (default: shipped model only)")
    parser.add_argument("--images", type=int, default=500, help="images per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--seed", type=int, default=31337)
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        type=named_model,
        metavar="NAME=PATH",
        help="also time this .onnx file (repeatable)",
    )
    args = parser.parse_args()
    images = png_images(args.images, args.seed)
    with tempfile.TemporaryDirectory(prefix="ctcocr-bench-") as folder:
        found, notes = readers(args.run, Path(folder), dict(args.model))
        results = measure(found, images, args.rounds)
    print(f"{args.images} PNG images (128x64) x {args.rounds} rounds, decoding included\n")
    print("| reader | batch-1 median | batch-1 p99 | batched images/s |")
    print("|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['median_ms']:.2f} ms | {row['p99_ms']:.2f} ms "
            f"| {row['images_per_s']:,.0f} |"
        )
    if "ddddocr" in results:
        dddd = results["ddddocr"]["median_ms"]
        for name, row in results.items():
            if "ONNX" in name:
                print(f"ddddocr / {name}: {dddd / row['median_ms']:.1f}x")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
