"""Train on real labelled sets with the default settings; ddddocr zero-shot as a peer column.

    python benchmarks/real.py                              # the four sets, 15 minutes each
    python benchmarks/real.py --sets captcha_images_v2 --minutes 3
    python benchmarks/real.py --learning-curve             # captcha_images_v2: 100..all images
    python benchmarks/real.py --learning-curve --pretrained runs/synthetic-lower

Each set in DATASETS (default ../shared/datasets) has train.csv, val.csv and test.csv. The
model trains from scratch (`--no-init`, unless --extra names `--init`) on train.csv, keeps its
best epoch on val.csv, and is scored once on test.csv. Every set gets the same flags (`--extra`
adds to all of them). ddddocr reads the same test images; it answers in lower case, so its
column compares case-insensitively (ours is case-exact).

The learning curve trains on the first 100, 200, 400 and all images of a seeded shuffle of
captcha_images_v2's train.csv, from scratch and fine-tuned (`--init`) from a synthetic
pretraining on the set's charset; it prints a table and draws a PNG. Runs go to
benchmarks/runs/real/ (ignored by git).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = ("captcha_images_v2", "really_simple_captcha", "henan_univ_digits", "cn_plates_lprnet")
CURVE_SET = "captcha_images_v2"
CURVE_SIZES = ("100", "200", "400", "all")


def ctcocr(*args: str, capture: bool = True) -> str:
    """Run the ctcocr command as a user would; return its stdout if captured."""
    command = [sys.executable, "-m", "ctcocr", *args]
    print("$ ctcocr " + " ".join(args), flush=True)
    output = subprocess.PIPE if capture else None
    return subprocess.run(command, check=True, stdout=output, text=True).stdout or ""


def train_and_test(
    run: Path, train: Path, root: Path, minutes: float | None, extra: list[str], val: bool = True
) -> dict[str, float]:
    """Train into `run` (fresh) for `minutes` (None: training's default plan), then score on
    root/test.csv. `val`: select the best epoch on root/val.csv (else on the share training
    holds out of `train`)."""
    if run.exists():
        shutil.rmtree(run)
    flags = ["--val", str(root / "val.csv")] if val else []
    flags += ["--max-minutes", str(minutes)] if minutes is not None else []
    flags += ["--out", str(run)]
    if not {"--init", "--no-init"} & set(extra):  # from scratch, as these figures always were
        flags.append("--no-init")
    ctcocr("train", str(train), *flags, *extra, capture=False)
    result = json.loads(ctcocr("evaluate", str(run), str(root / "test.csv"), "--json"))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # training's rule: the best accuracy, ties to the lower validation loss; the last epoch
    # when no image was held out (fine-tuning a few images)
    validated = [m for m in metrics if "sequence_accuracy" in m]
    best = max(
        validated, key=lambda m: (m["sequence_accuracy"], -m["val_loss"]), default=metrics[-1]
    )
    return {
        "sequence_accuracy": result["sequence_accuracy"],
        "character_accuracy": result["character_accuracy"],
        "count": result["count"],
        "errors": len(result["errors"]),
        "train_minutes": metrics[-1]["elapsed_s"] / 60,
        "best_epoch": best["epoch"],
        "epochs": metrics[-1]["epoch"],
    }


def ddddocr_scores(root: Path) -> dict[str, float] | None:
    """ddddocr zero-shot on root/test.csv, compared in lower case; None if not installed."""
    from peers import ddddocr_reader

    from ctcocr.data.samples import read_samples
    from ctcocr.evaluation.scores import score

    reader = ddddocr_reader()
    if reader is None:
        return None
    samples = read_samples(root / "test.csv")
    texts = [reader(s.path.read_bytes()).lower() for s in samples]
    scores = score([s.label.lower() for s in samples], texts)
    return {"sequence_accuracy": scores.sequence_accuracy, "count": scores.count}


def real_sets(args: argparse.Namespace) -> None:
    rows = []
    for name in args.sets.split(","):
        root = args.datasets / name
        ours = train_and_test(
            args.out / name, root / "train.csv", root, args.minutes, args.extra.split()
        )
        peer = None if args.no_ddddocr else ddddocr_scores(root)
        rows.append((name, ours, peer))
        print(json.dumps({"set": name, "ctcocr": ours, "ddddocr": peer}), flush=True)
    print(f"\nctcocr defaults, at most {args.minutes:g} min of training; flags: {args.extra!r}\n")
    print("| set | test images | ctcocr seq. acc. | char. acc. | errors | minutes | ddddocr |")
    print("|---|---|---|---|---|---|---|")
    for name, ours, peer in rows:
        shown = "not installed" if peer is None else f"{peer['sequence_accuracy']:.2%}"
        print(
            f"| {name} | {ours['count']} | {ours['sequence_accuracy']:.2%} | "
            f"{ours['character_accuracy']:.2%} | {ours['errors']} | "
            f"{ours['train_minutes']:.1f} | {shown} |"
        )


def subset(train_csv: Path, size: str, seed: int, out: Path) -> Path:
    """The first `size` rows of a seeded shuffle of train_csv, as a CSV of absolute paths."""
    with train_csv.open(newline="", encoding="utf-8") as handle:
        rows = [(str(train_csv.parent / r["path"]), r["label"]) for r in csv.DictReader(handle)]
    random.Random(seed).shuffle(rows)
    rows = rows if size == "all" else rows[: int(size)]
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(f".{os.getpid()}.tmp")  # two commands may write it at once
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    temporary.replace(out)
    return out


def pretrain(root: Path, out: Path, minutes: float) -> Path:
    """A synthetic run on the set's charset and label length, to fine-tune from."""
    from ctcocr.data.samples import read_samples

    labels = [s.label for s in read_samples(root / "train.csv")]
    charset = "".join(sorted(set("".join(labels))))
    lengths = sorted({len(label) for label in labels})
    if not (out / "model.safetensors").exists():
        ctcocr(
            "train",
            "--synthetic",
            "--charset",
            charset,
            "--length",
            f"{lengths[0]}-{lengths[-1]}",
            "--max-minutes",
            str(minutes),
            "--out",
            str(out),
            capture=False,
        )
    return out


def learning_curve(args: argparse.Namespace) -> None:
    root = args.datasets / CURVE_SET
    folder = args.out / "curve"
    pretrained = args.pretrained or pretrain(root, folder / "pretrained", args.pretrain_minutes)
    results: dict[str, dict[str, float]] = {"scratch": {}, "fine-tuned": {}}
    counts = {}
    for size in args.sizes.split(","):
        train = subset(root / "train.csv", size, args.seed, folder / f"train-{size}.csv")
        counts[size] = sum(1 for _ in train.open(encoding="utf-8")) - 1
        for kind, extra in (("scratch", []), ("fine-tuned", ["--init", str(pretrained)])):
            run = folder / f"{kind}-{size}"
            flags = [*extra, *args.extra.split()]
            scores = train_and_test(run, train, root, args.curve_minutes, flags)
            results[kind][size] = scores["sequence_accuracy"]
            print(json.dumps({"size": size, "kind": kind, **scores}), flush=True)
    print(f"\n{CURVE_SET}: test sequence accuracy, {args.curve_minutes:g} min per run\n")
    print("| training images | from scratch | fine-tuned from synthetic |")
    print("|---|---|---|")
    for size, count in counts.items():
        print(f"| {count} | {results['scratch'][size]:.2%} | {results['fine-tuned'][size]:.2%} |")
    plot = folder / "learning_curve.png"
    draw_curve(counts, results, plot)
    print(f"\nplot: {plot}")


def draw_curve(counts: dict[str, int], results: dict[str, dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4))
    sizes = list(counts)
    for kind, marker in (("scratch", "o"), ("fine-tuned", "s")):
        values = [100 * results[kind][s] for s in sizes]
        axis.plot([counts[s] for s in sizes], values, marker=marker, label=kind)
    axis.set_xscale("log")
    axis.set_xlabel("training images (log scale)")
    axis.set_ylabel("test sequence accuracy (%)")
    axis.set_title(f"{CURVE_SET}: from scratch vs fine-tuned")
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared/datasets")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--minutes", type=float, default=15.0, help="training cap per set")
    parser.add_argument("--extra", default="", help="more train flags for every run")
    parser.add_argument("--no-ddddocr", action="store_true", help="skip the peer column")
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "real")
    parser.add_argument("--learning-curve", action="store_true", help=f"{CURVE_SET} only")
    parser.add_argument("--sizes", default=",".join(CURVE_SIZES))
    parser.add_argument("--curve-minutes", type=float, default=5.0, help="per curve run")
    parser.add_argument("--pretrained", type=Path, help="run to fine-tune from (else trained)")
    parser.add_argument("--pretrain-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="subset shuffle")
    args = parser.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"{args.datasets}: no datasets folder; pass --datasets")
    started = time.monotonic()
    (learning_curve if args.learning_curve else real_sets)(args)
    print(f"\nwall time {(time.monotonic() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
