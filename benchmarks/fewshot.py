"""Few-shot: N labels of a new kind, a few minutes of fine-tuning from the general model vs
training from scratch, scored on the set's whole test split.

    python benchmarks/fewshot.py                           # every set, N = 25,50,100,200
    python benchmarks/fewshot.py --sets captcha_images_v2 --sizes 50 --minutes 5
    python benchmarks/fewshot.py --init runs/general       # start from another run
    python benchmarks/fewshot.py --sets captcha_images_v2 --sizes 50 --seeds 0,1,2

Each run trains on the first N rows of a seeded shuffle of the set's train.csv with ctcocr's
defaults for the data it is given, as a user's would (the set's val.csv is not used: a
fine-tuning on fewer than 200 images trains on all N and keeps its last epoch, a scratch run
holds 10% of the N out to choose its epoch), then `ctcocr evaluate` reads the whole
test.csv. "general" runs add `--init general` (the shipped general model, or --init) and
train fine-tuning's default plan (or --general-minutes); "scratch" runs add `--no-init`
(--scratch-flags) and train `--minutes`. Where every one of the N labels has one length L,
the run is also read with `--length L` (the decoding constraint the training's last line
suggests; after the slash in the table). `--seeds 0,1,2` draws the N images three ways and
trains each (seed 0 in OUT/SET/, seed S in OUT/SET/seed-S/): with N this small, which images
are drawn moves a run by several points, so the table shows the mean and each seed's figure.
Prints a table and draws the learning curves (of the means).
Run again, the command reuses the scores of runs already done (`--fresh` trains them again;
`--table-only` trains nothing). Two commands may share an --out: `--starts general` on one
core and `--starts scratch` on the other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from real import HERE, SETS, ctcocr, subset, train_and_test

from ctcocr.data.samples import read_samples

SIZES = "25,50,100,200"
STARTS = ("general", "scratch")


def run_set(args: argparse.Namespace, name: str, seed: int) -> dict[str, dict[int, dict]]:
    """{start: {N: scores}} for one set and one draw of its N images. A run's scores are kept
    beside it (`KIND-N.json`), so that the command run again after a kill goes on where it
    stopped (--fresh: run all)."""
    root = args.datasets / name
    folder = args.out / name if seed == 0 else args.out / name / f"seed-{seed}"
    starts = {"general": ["--init", args.init], "scratch": args.scratch_flags.split()}
    starts = {kind: flags for kind, flags in starts.items() if kind in args.starts.split(",")}
    minutes = {"general": args.general_minutes, "scratch": args.minutes}
    results: dict[str, dict[int, dict]] = {kind: {} for kind in starts}
    for size in (int(s) for s in args.sizes.split(",")):
        train = folder / f"train-{size}.csv"
        if not args.table_only:
            subset(root / "train.csv", str(size), seed, train)
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
            scores = with_length_score(scores, folder / f"{kind}-{size}", train, root)
            write_json(kept, scores)
            results[kind][size] = scores
            print(json.dumps({"set": name, "seed": seed, "size": size, "start": kind, **scores}))
    return results


def with_length_score(scores: dict, run: Path, train: Path, root: Path) -> dict:
    """`scores` and, when every training label has one length L, the test accuracy read with
    `--length L` (the constraint the training's last line suggests): evaluated once, kept."""
    if "length_accuracy" in scores or not train.exists() or not run.exists():
        return scores
    lengths = {len(sample.label) for sample in read_samples(train)}
    if len(lengths) != 1:
        return scores
    flags = ["--json", "--length", str(lengths.pop())]
    result = json.loads(ctcocr("evaluate", str(run), str(root / "test.csv"), *flags))
    return {**scores, "length_accuracy": result["sequence_accuracy"]}


def write_json(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    temporary.replace(path)


def averaged(per_seed: list[dict[str, dict[int, dict]]]) -> dict[str, dict[int, dict]]:
    """The seeds' scores of each start and N: their mean, and the list of each seed's."""
    merged: dict[str, dict[int, dict]] = {}
    for kind in per_seed[0]:
        sizes = set.intersection(*(set(results.get(kind, {})) for results in per_seed))
        merged[kind] = {}
        for size in sizes:
            runs = [results[kind][size] for results in per_seed]
            mean = {
                key: sum(run[key] for run in runs) / len(runs)
                for key in ("sequence_accuracy", "errors", "train_minutes", "length_accuracy")
                if all(key in run for run in runs)
            }
            merged[kind][size] = {**mean, "count": runs[0]["count"], "runs": runs}
    return merged


def cell(scores: dict | None) -> str:
    """One table cell: accuracy (errors of images, minutes); over several seeds the mean,
    then each seed's; `--length` accuracy after a slash where the labels have one length."""
    if scores is None:
        return "not run"
    runs = scores.get("runs", [scores])
    text = f"{scores['sequence_accuracy']:.2%}"
    if len(runs) > 1:
        text += " (" + ", ".join(f"{run['sequence_accuracy']:.2%}" for run in runs) + ")"
    else:
        run = runs[0]
        text += f" ({run['errors']} of {run['count']}, {run['train_minutes']:.1f} min)"
    if "length_accuracy" in scores:
        text += f" / {scores['length_accuracy']:.2%}"
    return text


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
    parser.add_argument(
        "--seeds", default="0", help="which N images are drawn: one run per seed, averaged"
    )
    parser.add_argument("--starts", default="general,scratch", help="which runs: general,scratch")
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "fewshot")
    parser.add_argument("--fresh", action="store_true", help="run again the runs already done")
    parser.add_argument(
        "--table-only", action="store_true", help="train nothing: the table of the runs done"
    )
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    all_results = {
        name: averaged([run_set(args, name, seed) for seed in seeds])
        for name in args.sets.split(",")
    }
    general = (
        f"{args.general_minutes:g} min" if args.general_minutes else "fine-tuning's default plan"
    )
    how = f"over seeds {args.seeds}: the mean (each seed's)"
    how = "errors, training minutes" if len(seeds) == 1 else how
    print(
        f"\ntest sequence accuracy ({how}) / read with --length L where every label has L "
        f"characters: from the general model, {general}; from scratch, {args.minutes:g} min\n"
    )
    print("| set | N | from the general model | from scratch |")
    print("|---|---|---|---|")
    for name, results in all_results.items():
        for size in sorted({s for runs in results.values() for s in runs}):
            general_cell, scratch_cell = (cell(results.get(k, {}).get(size)) for k in STARTS)
            print(f"| {name} | {size} | {general_cell} | {scratch_cell} |")
    args.out.mkdir(parents=True, exist_ok=True)
    draw(all_results, args.out / "fewshot.png")
    print(f"\nplot: {args.out / 'fewshot.png'}")


if __name__ == "__main__":
    main()
