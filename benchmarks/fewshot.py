"""Few-shot: N labels of a new kind, a few minutes of fine-tuning from the general model vs
training from scratch, scored on the set's whole test split.

    python benchmarks/fewshot.py                           # every set, N = 25,50,100,200
    python benchmarks/fewshot.py --sets captcha_images_v2 --sizes 50 --minutes 5
    python benchmarks/fewshot.py --init runs/general       # start from another run

Each run trains on the first N rows of a seeded shuffle of the set's train.csv with ctcocr's
defaults for the data it is given (so its validation is held out of the N, as a user's would
be: the set's val.csv is not used), `--max-minutes` at most, then `ctcocr evaluate` reads the
whole test.csv. "general" runs add `--init general` (the shipped general model, or --init),
"scratch" runs `--no-init` (--scratch-flags). Prints a table and draws the learning curves.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from real import HERE, SETS, subset, train_and_test

SIZES = "25,50,100,200"


def run_set(args: argparse.Namespace, name: str) -> dict[str, dict[int, float]]:
    root = args.datasets / name
    folder = args.out / name
    starts = {"general": ["--init", args.init], "scratch": args.scratch_flags.split()}
    starts = {kind: flags for kind, flags in starts.items() if kind in args.starts.split(",")}
    results: dict[str, dict[int, float]] = {kind: {} for kind in starts}
    for size in (int(s) for s in args.sizes.split(",")):
        train = subset(root / "train.csv", str(size), args.seed, folder / f"train-{size}.csv")
        for kind, flags in starts.items():
            scores = train_and_test(
                folder / f"{kind}-{size}", train, root, args.minutes, [*flags, *args.extra.split()],
                val=False,
            )  # fmt: skip
            results[kind][size] = scores["sequence_accuracy"]
            print(json.dumps({"set": name, "size": size, "start": kind, **scores}), flush=True)
    return results


def draw(all_results: dict[str, dict[str, dict[int, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(all_results), figsize=(4.2 * len(all_results), 3.6))
    axes = axes if len(all_results) > 1 else [axes]
    for axis, (name, results) in zip(axes, all_results.items(), strict=True):
        for kind, marker in (("general", "s"), ("scratch", "o")):
            if kind not in results:
                continue
            sizes = sorted(results[kind])
            axis.plot(sizes, [100 * results[kind][s] for s in sizes], marker=marker, label=kind)
        axis.set(title=name, xlabel="labelled images", ylabel="test sequence accuracy (%)")
        axis.set_xscale("log")
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared/datasets")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--sizes", default=SIZES)
    parser.add_argument("--minutes", type=float, default=5.0, help="training cap per run")
    parser.add_argument("--init", default="general", help="what 'general' runs start from")
    parser.add_argument("--scratch-flags", default="--no-init", help="flags of the scratch runs")
    parser.add_argument("--extra", default="", help="more train flags for every run")
    parser.add_argument("--seed", type=int, default=0, help="which N images are drawn")
    parser.add_argument("--starts", default="general,scratch", help="which runs: general,scratch")
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "fewshot")
    args = parser.parse_args()
    all_results = {name: run_set(args, name) for name in args.sets.split(",")}
    print(f"\ntest sequence accuracy after at most {args.minutes:g} min of training\n")
    print("| set | N | from the general model | from scratch |")
    print("|---|---|---|---|")
    for name, results in all_results.items():
        for size in sorted({s for runs in results.values() for s in runs}):
            cells = [results.get(kind, {}).get(size) for kind in ("general", "scratch")]
            shown = [f"{c:.2%}" if c is not None else "not run" for c in cells]
            print(f"| {name} | {size} | {shown[0]} | {shown[1]} |")
    args.out.mkdir(parents=True, exist_ok=True)
    draw(all_results, args.out / "fewshot.png")
    print(f"\nplot: {args.out / 'fewshot.png'}")


if __name__ == "__main__":
    main()
