"""Training images/s in 1 and 2 processes (torchrun, DDP) on this machine, and the efficiency.

    python benchmarks/scaling.py --minutes 3 --repeats 3

Each setting runs `torchrun --standalone --nproc-per-node N -m ctcocr train DATA` for a fixed
time on a folder of synthetic CAPTCHAs (made with `ctcocr synth` if absent) and reads the
training images/s of each epoch (all ranks together, validation excluded) from metrics.jsonl.
Settings are interleaved, and each figure is the median over epochs and repeats. Every process
gets cores // N torch threads and the same number of loader workers, so that N processes never
ask for more cores than one process does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def ensure_dataset(folder: Path, count: int) -> Path:
    if not (folder / "labels.csv").exists():
        print(f"writing {count} CAPTCHAs to {folder} (ctcocr synth) ...", flush=True)
        command = [sys.executable, "-m", "ctcocr", "synth", str(folder), "--count", str(count)]
        subprocess.run(command, check=True)
    return folder


def images_per_second(processes: int, data: Path, args: argparse.Namespace) -> list[float]:
    """Per-epoch training images/s of one run, the first epoch (warm-up) left out."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc-per-node", str(processes), "-m", "ctcocr", "train", str(data)]
        command += ["--out", str(out), "--max-minutes", str(args.minutes)]
        command += ["--workers", str(args.workers), "--batch-size", str(args.batch)]
        command += ["--model", args.model]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        lines = (out / "metrics.jsonl").read_text().splitlines()
        rates = [json.loads(line)["images_per_s"] for line in lines]
    return rates[1:] or rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="training time per run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--processes", default="1,2", help="process counts to compare")
    parser.add_argument("--count", type=int, default=4000, help="images in the dataset")
    parser.add_argument("--data", type=Path, default=Path("bench-data/scaling"))
    parser.add_argument("--workers", type=int, default=1, help="loader workers per process")
    parser.add_argument("--batch", type=int, default=64, help="images per step per process")
    parser.add_argument("--model", default="crnn", choices=("cnn", "crnn"))
    args = parser.parse_args()
    data = ensure_dataset(args.data, args.count)
    counts = [int(n) for n in args.processes.split(",")]
    cores = os.cpu_count() or 1
    rates: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.repeats):  # interleaved, so that a slow spell hits every setting
        for n in counts:
            rates[n] += images_per_second(n, data, args)
    base = statistics.median(rates[counts[0]]) / counts[0]
    print(
        f"\n{cores} cores, {args.model}, batch {args.batch} per process, {args.workers} loader "
        f"worker(s) per process, {args.minutes} min x {args.repeats} per setting\n"
    )
    print("| processes | torch threads each | train img/s | scaling efficiency |")
    print("|---|---|---|---|")
    for n in counts:
        median = statistics.median(rates[n])
        print(f"| {n} | {max(1, cores // n)} | {median:.0f} | {median / (n * base):.0%} |")
    efficiency = statistics.median(rates[counts[-1]]) / (counts[-1] * base)
    print(f"\nWhat limits it ({counts[-1]} processes at {efficiency:.0%} efficiency):")
    print(
        f"the processes share these {cores} cores, so more processes add no compute, only"
        " smaller torch thread pools (which lose less to synchronisation, so a few percent"
        " above 100% is possible); every step waits for a gloo all-reduce of all gradients;"
        " image decoding in the loader workers competes for the same cores. Processes pay off"
        " with a GPU each (nccl) or across machines."
    )


if __name__ == "__main__":
    main()
