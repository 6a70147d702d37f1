"""Few-shot: N labels of a new kind, a few minutes of fine-tuning from the general model vs
training from scratch, scored on the set's whole test split.

    python benchmarks/fewshot.py                           # every set, N = 25,50,100,200
    python benchmarks/fewshot.py --sets captcha_images_v2 --sizes 50 --minutes 5
    python benchmarks/fewshot.py --init runs/general       # start from another run

Each run trains on the first N rows of a seeded shuffle of the set's train.csv with ctcocr's
defaults for the data it is given (so its validation is held out of the N, as a user's would
be: the set's val.csv is not used), then `ctcocr evaluate` reads the whole test.csv. "general"
runs add `--init general` (the shipped general model, or --init) and train fine-tuning's
default plan (or --general-minutes); "scratch" runs add `--no-init` (--scratch-flags) and train
`--minutes`. Prints a table and draws the learning curves. Run again, the command reuses the
scores of runs already done (`--fresh` trains them again; `--table-only` trains nothing). Two
commands may share an --out: `--starts general` on one core and `--starts scratch` on the other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from real import HERE, SETS, subset, train_and_test

SIZES = "25,50,100,200"


def run_set(args: argparse.Namespace, name: str) -> dict[str, dict[int, dict]]:
    """{start: {N: scores}} for one set. A run's scores are kept beside it (`KIND-N.json`), so
    that the command run again after a kill goes on where it stopped (--fresh: run all)."""
    root = args.datasets / name
    folder = args.out / name
    starts = {"general": ["--init", args.init], "scratch": args.scratch_flags.split()}
    starts = {kind: flags for kind, flags in starts.items() if kind in args.starts.split(",")}
    minutes = {"general": args.general_minutes, "scratch": args.minutes}
    results: dict[str, dict[int, dict]] = {kind: {} for kind in starts}
    for size in (int(s) for s in args.sizes.split(",")):
        train = folder / f"train-{size}.csv"
        if not args.table_only:
            subset(root / "train.csv", str(size), args.seed, train)
        for kind, flags in starts.items():
            kept = folder / f"{kind}-{size}.json"
            if kept.exists() and not args.fresh:
                scores = json.loads(kept.read_text(encoding="utf-8"))
            elif args.table_only:
                continue
            else:
                scores = train_and_test(
                    folder / f"{kind}-{size}", train, root, minutes[kind],
                    [*flags, *args.extra.split()], val=False,
                )  # fmt: skip
                temporary = kept.with_suffix(".tmp")
                temporary.write_text(json.dumps(scores), encoding="utf-8")
                temporary.replace(kept)
            results[kind][size] = scores
            print(json.dumps({"set": name, "size": size, "start": kind, **scores}), flush=True)
    return results


def draw(all_results: dict[str, dict[str, dict[int, dict]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(all_results), figsize=(4.2 * len(all_results), 3.6))
    axes = axes if len(all_results) > 1 else [axes]
    labels = {"general": "from the general model", "scratch": "from scratch"}
    for axis, (name, results) in zip(axes, all_results.items(), strict=True):
        for kind, marker in (("general", "s"), ("scratch", "o")):
            if not results.get(kind):
                continue
            sizes = sorted(results[kind])
            accuracy = [100 * results[kind][s]["sequence_accuracy"] for s in sizes]
            axis.plot(sizes, accuracy, marker=marker, label=labels[kind])
        axis.set(title=name, xlabel="labelled images", ylabel="test sequence accuracy (%)")
        axis.set_xscale("log")
        shown = sorted({s for runs in results.values() for s in runs})
        axis.set_xticks(shown, [str(s) for s in shown])
        axis.minorticks_off()
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
    parser.add_argument("--minutes", type=float, default=5.0, help="training time of a scratch run")
    parser.add_argument(
        "--general-minutes",
        type=float,
        help="training time of a general run (default: fine-tuning's default plan)",
    )
    parser.add_argument("--init", default="general", help="what 'general' runs start from")
    parser.add_argument("--scratch-flags", default="--no-init", help="flags of the scratch runs")
    parser.add_argument("--extra", default="", help="more train flags for every run")
    parser.add_argument("--seed", type=int, default=0, help="which N images are drawn")
    parser.add_argument("--starts", default="general,scratch", help="which runs: general,scratch")
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "fewshot")
    parser.add_argument("--fresh", action="store_true", help="run again the runs already done")
    parser.add_argument(
        "--table-only", action="store_true", help="train nothing: the table of the runs done"
    )
    args = parser.parse_args()
    all_results = {name: run_set(args, name) for name in args.sets.split(",")}
    general = (
        f"{args.general_minutes:g} min" if args.general_minutes else "fine-tuning's default plan"
    )
    print(
        f"\ntest sequence accuracy (errors, training minutes): from the general model, "
        f"{general}; from scratch, {args.minutes:g} min\n"
    )
    print("| set | N | from the general model | from scratch |")
    print("|---|---|---|---|")
    for name, results in all_results.items():
        for size in sorted({s for runs in results.values() for s in runs}):
            cells = [results.get(kind, {}).get(size) for kind in ("general", "scratch")]
            shown = [
                f"{c['sequence_accuracy']:.2%} ({c['errors']} of {c['count']}, "
                f"{c['train_minutes']:.1f} min)"
                if c is not None
                else "not run"
                for c in cells
            ]
            print(f"| {name} | {size} | {shown[0]} | {shown[1]} |")
    args.out.mkdir(parents=True, exist_ok=True)
    draw(all_results, args.out / "fewshot.png")
    print(f"\nplot: {args.out / 'fewshot.png'}")


if __name__ == "__main__":
    main()
