"""Drawing speed of each synthesis style, on one core: images per second, and the time one image
takes (median and 99th percentile), as `train --synthetic --style NAME` draws them.

    python benchmarks/styles.py                 # every style, best of 3 rounds of 300
    python benchmarks/styles.py --count 1000 --only mix,warped
    python benchmarks/styles.py --pipeline      # also what training reads: drawn + preprocessed

Training is input-bound when drawing is slower than the network: the default crnn trains at
about 250 images/s on 2 cores with each synthetic image used 4 times (--synthetic-reuse 4), so
~60 fresh images/s are needed; a style should draw well above 100 images/s on one core.
Prints a markdown table. Pins itself to one core (Linux) so that the figure is per core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from ctcocr.data.fonts import available_fonts
from ctcocr.data.styles import STYLES
from ctcocr.data.synth import CaptchaSynth, SynthConfig

WARM_UP = 30  # first draws open fonts at new sizes: not the steady state training sees


def measure(
    style: str, count: int, seed: int, length: tuple[int, int], rounds: int
) -> dict[str, float]:
    """The best of `rounds` rounds of `count` fresh images (others' work on a shared machine
    only ever slows a round down), and the median and 99th percentile of single draws."""
    synth = CaptchaSynth(SynthConfig(style=style, min_length=length[0], max_length=length[1]), seed)
    for index in range(WARM_UP):
        synth.sample(index)
    times, best = [], 0.0
    for round_ in range(rounds):
        start = time.perf_counter()
        for index in range(WARM_UP + round_ * count, WARM_UP + (round_ + 1) * count):
            began = time.perf_counter()
            synth.sample(index)
            times.append(time.perf_counter() - began)
        best = max(best, count / (time.perf_counter() - start))
    times.sort()
    return {
        "per_second": best,
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(0.99 * (len(times) - 1))] * 1000,
    }


def pipeline(style: str, count: int, seed: int, length: tuple[int, int]) -> float:
    """Items/s of training's input, one process: SyntheticStream draws, reuses each image 4
    times (the default --synthetic-reuse) and preprocesses to the default 128x64 input."""
    from ctcocr.core.config import PreprocessConfig
    from ctcocr.training.datasets import SyntheticStream

    config = SynthConfig(style=style, min_length=length[0], max_length=length[1])
    stream = SyntheticStream(config, PreprocessConfig(), seed, epoch=0, size=count, reuse=4)
    start = time.perf_counter()
    drawn = sum(1 for _ in stream)
    return drawn / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="images per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per style (best counts)")
    parser.add_argument("--only", help="comma-separated style names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", default="4-6", help="text length A-B, as in train")
    parser.add_argument("--pipeline", action="store_true", help="add training input items/s")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    low, high = (int(v) for v in args.length.split("-"))
    names = args.only.split(",") if args.only else list(STYLES)
    fonts = available_fonts()
    families = len({font.family for font in fonts})
    print(
        f"{len(fonts)} font files in {families} families; best of {args.rounds} rounds of "
        f"{args.count} images per style, 1 core"
    )
    print()
    extra = (" training input items/s |", "---:|") if args.pipeline else ("", "")
    print("| style | images/s | median ms | p99 ms |" + extra[0])
    print("|---|---:|---:|---:|" + extra[1])
    for name in names:
        row = measure(name, args.count, args.seed, (low, high), args.rounds)
        times = f"{row['median_ms']:.2f} | {row['p99_ms']:.2f}"
        fed = f" {pipeline(name, 4 * args.count, args.seed, (low, high)):.0f} |"
        print(f"| `{name}` | {row['per_second']:.0f} | {times} |{fed if args.pipeline else ''}")


if __name__ == "__main__":
    main()
