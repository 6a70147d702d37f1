"""What beam search, constraints and temperature buy, and what decoding costs per image.

    python benchmarks/decoding.py --run RUN                  # RUN: trained on --synthetic
    python benchmarks/decoding.py --run RUN --plates-run PLATES_RUN

RUN must read synthetic CAPTCHAs of 4-6 characters (`ctcocr train --synthetic`); the script
draws a calibration set and a test set from other seeds with ctcocr.data.synth. PLATES_RUN must be
trained on ../shared/datasets/cn_plates_lprnet (train.csv); its val.csv calibrates and
test.csv tests. The plates row is skipped when PLATES_RUN is not given.

For each set: sequence accuracy of greedy decoding, of beam search (k = 5, 10), and of beam
search under the constraint the data obeys (length 4-6; the plate pattern); expected
calibration error at T = 1 and at a temperature fitted for that decoding on the calibration
set (the run folder is not modified); and decoding time per image (numpy, the
network's logits computed once beforehand; median of --repeats passes). Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ctcocr import Recognizer
from ctcocr.data.samples import read_samples
from ctcocr.data.synth import SynthConfig, write_dataset
from ctcocr.decoding.decoder import DecodeOptions, decode
from ctcocr.evaluation.calibration import calibrate_logits, expected_calibration_error

HERE = Path(__file__).resolve().parent
PLATES = HERE.parent.parent / "shared" / "datasets" / "cn_plates_lprnet"
PLATE_PATTERN = r"[京川沪浙湘皖粤苏豫闽鲁][A-HJ-NP-Z][A-HJ-NP-Z0-9]{5}"
CALIBRATION_SEED, TEST_SEED = 555_000_111, 987_654_321


def logits_of(reader: Recognizer, paths: list[Path]) -> np.ndarray:
    """Raw logits (N, T, C) of all images, 64 at a time."""
    return np.concatenate([reader.logits(paths[i : i + 64]) for i in range(0, len(paths), 64)])


def ms_per_image(
    logits: np.ndarray, reader: Recognizer, options: DecodeOptions, repeats: int
) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        decode(logits, reader.spec.charset, options, reader.spec.temperature)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000 / len(logits)


def rows_for(
    name: str,
    run: Path,
    calibration: list,
    test: list,
    constrained: DecodeOptions,
    timing_images: int,
    repeats: int,
) -> list[dict]:
    reader = Recognizer(run)
    charset = reader.spec.charset
    calibration_logits = logits_of(reader, [s.path for s in calibration])
    calibration_labels = [s.label for s in calibration]
    logits = logits_of(reader, [s.path for s in test])
    labels = [s.label for s in test]
    timing = logits[:timing_images]
    variants = [
        ("greedy (k=1)", DecodeOptions()),
        ("beam k=5", DecodeOptions(beam=5)),
        ("beam k=10", DecodeOptions(beam=10)),
        (f"k=1, {describe(constrained)}", replace(constrained, beam=1)),
        (f"k=10, {describe(constrained)}", replace(constrained, beam=10)),
    ]
    rows = []
    for label, options in variants:
        # Each decoding's confidence is calibrated on its own (greedy: best path; beam
        # search: all paths of the text), as `ctcocr calibrate` with the same flags would.
        fit = calibrate_logits(calibration_logits, calibration_labels, charset, options)
        raw = decode(logits, charset, options, 1.0)
        fitted = decode(logits, charset, options, fit.temperature)
        right = np.array([p.text == t for p, t in zip(raw, labels, strict=True)])
        right_fitted = np.array([p.text == t for p, t in zip(fitted, labels, strict=True)])
        rows.append(
            {
                "data": name,
                "decoding": label,
                "accuracy": float(right.mean()),  # the decoding alone, at T = 1
                "ece_before": expected_calibration_error([p.confidence for p in raw], right),
                "ece_after": expected_calibration_error(
                    [p.confidence for p in fitted], right_fitted
                ),
                "temperature": fit.temperature,
                "ms": ms_per_image(timing, reader, options, repeats),
                "count": len(test),
            }
        )
        print(rows[-1], flush=True)
    return rows


def describe(options: DecodeOptions) -> str:
    if options.pattern:
        return "pattern"
    return f"length {options.length[0]}-{options.length[1]}" if options.length else "constrained"


def synthetic_sets(out: Path, count: int, calibration_count: int) -> tuple[list, list]:
    config = SynthConfig(min_length=4, max_length=6)
    sets = []
    for name, size, seed in (
        ("calibration", calibration_count, CALIBRATION_SEED),
        ("test", count, TEST_SEED),
    ):
        folder = out / f"{name}-{size}"
        if not (folder / "labels.csv").exists():
            write_dataset(folder, size, config, seed)
        sets.append(read_samples(folder))
    return sets[0], sets[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run trained with --synthetic")
    parser.add_argument("--plates-run", type=Path, help="run trained on cn_plates_lprnet")
    parser.add_argument("--plates", type=Path, default=PLATES, help="the plates dataset folder")
    parser.add_argument("--test-count", type=int, default=2000)
    parser.add_argument("--calibration-count", type=int, default=1000)
    parser.add_argument("--timing-images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "decoding")
    args = parser.parse_args()

    calibration, test = synthetic_sets(args.out, args.test_count, args.calibration_count)
    rows = rows_for(
        "CAPTCHAs 4-6",
        args.run,
        calibration,
        test,
        DecodeOptions(length=(4, 6)),
        args.timing_images,
        args.repeats,
    )
    if args.plates_run is not None and (args.plates / "test.csv").exists():
        rows += rows_for(
            "plates",
            args.plates_run,
            read_samples(args.plates / "val.csv"),
            read_samples(args.plates / "test.csv"),
            DecodeOptions(pattern=PLATE_PATTERN),
            args.timing_images,
            args.repeats,
        )
    else:
        print(f"plates row skipped: give --plates-run (and {args.plates}/test.csv must exist)")
    print(
        "\n| data | decoding | sequence acc. | vs greedy | ECE, T = 1 | ECE, fitted T | T "
        "| decode ms/image |"
    )
    print("|---|---|---|---|---|---|---|---|")
    greedy = {r["data"]: r["accuracy"] for r in rows if r["decoding"].startswith("greedy")}
    for r in rows:
        gain = 100 * (r["accuracy"] - greedy[r["data"]])
        print(
            f"| {r['data']} ({r['count']}) | {r['decoding']} | {r['accuracy']:.2%} | "
            f"{gain:+.2f} pt | {r['ece_before']:.2%} | {r['ece_after']:.2%} | "
            f"{r['temperature']:.3g} | {r['ms']:.3f} |"
        )


if __name__ == "__main__":
    main()
