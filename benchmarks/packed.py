"""Reading images/s, decode and preprocess only (no training): a folder of files vs shards.

    python benchmarks/packed.py --count 100000 --repeats 3

Makes the dataset with `ctcocr synth` if absent (100k images take several minutes) and packs
it with `ctcocr pack` if the shards are absent. Each pass reads the whole set through a
DataLoader with the same workers and batch size, as training does: the folder through
`read_samples` (which lists and checks every file) and `ImageDataset`, the shards through
`open_shards` and `ShardStream`. Passes are interleaved; figures are medians. Both read from
the page cache after the first pass: for a cold disk, drop the caches between passes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from torch.utils.data import DataLoader, Dataset

from ctcocr.core.charset import DEFAULT_CHARSET, Charset
from ctcocr.core.config import PreprocessConfig
from ctcocr.data.packing import open_shards
from ctcocr.data.samples import read_samples
from ctcocr.training.datasets import ImageDataset, collate
from ctcocr.training.distributed import Context
from ctcocr.training.shards import ShardStream


def ctcocr(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ctcocr", *args], check=True)


def read_all(make: Callable[[], Dataset], workers: int, batch: int) -> tuple[float, float, int]:
    """-> (seconds to list/open the dataset, seconds to read it, images)."""
    start = time.perf_counter()
    dataset = make()
    opened = time.perf_counter()
    loader = DataLoader(
        dataset,
        batch_size=batch,
        num_workers=workers,
        collate_fn=partial(collate, charset=Charset(DEFAULT_CHARSET)),
    )
    images = sum(len(labels) for *_, labels in loader)
    return opened - start, time.perf_counter() - opened, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--root", type=Path, default=Path("bench-data"))
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folder = args.root / f"captcha-{args.count}"
    packed = args.root / f"captcha-{args.count}-shards"
    if not (folder / "labels.csv").exists():
        print(f"writing {args.count} CAPTCHAs to {folder} (takes a while) ...", flush=True)
        ctcocr("synth", str(folder), "--count", str(args.count))
    if not (packed / "index.json").exists():
        print(f"packing {folder} into {packed} ...", flush=True)
        ctcocr("pack", str(folder), str(packed), "--shard-size", str(args.shard_size))
    config = PreprocessConfig()
    sources: dict[str, Callable[[], Dataset]] = {
        "folder (files + labels.csv)": lambda: ImageDataset(read_samples(folder), config),
        f"shards ({args.shard_size} per tar)": lambda: ShardStream(
            open_shards(packed), config, seed=0, epoch=0, ranks=Context()
        ),
    }
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sources}
    for _ in range(args.repeats):
        for name, make in sources.items():
            results[name].append(read_all(make, args.workers, args.batch))
    print(f"\n{args.count} images 128x64, {args.workers} loader workers, batch {args.batch}\n")
    print("| source | open / list (s) | read img/s | images |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        listing = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[2] / r[1] for r in runs)
        print(f"| {name} | {listing:.2f} | {rate:.0f} | {runs[0][2]} |")


if __name__ == "__main__":
    main()
