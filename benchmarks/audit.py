"""Does `ctcocr audit` find wrong labels? Measured on henan_univ_digits, whose wrong test labels
are known.

    python benchmarks/audit.py                                      # all 9,453 images, 5 folds
    python benchmarks/audit.py --limit 600 --minutes-per-fold 0.5   # a quick check, end to end
    python benchmarks/audit.py --retrain-minutes 15                 # and train on fixed labels

1. The 21 original wrong test labels, read at run time from the set's DATASET.md ("Corrected
   test labels": `file` wrong→right), are put back into a manifest of all its images
   (train.csv + val.csv + test.csv) written in the run folder; the set itself is not touched.
2. `ctcocr audit` reads every image with the one of 5 models that never trained on it.
3. Counted: (a) how many of the 21 planted labels rank in the top 250; (b) the precision of
   the top 150 as an independent reader judges it: ddddocr (`pip install -e '.[bench]'`), which
   reads the corrected test split perfectly. Where ddddocr reads what the audit read, the label
   counts as wrong; where it reads the label, as right; where it reads neither, as undecided
   (not wrong: the precision is a lower bound). Only disagreements count: in a set with fewer
   than 150 of them, the top 150 ends with agreements, which claim nothing.
4. With --retrain-minutes: train on train.csv as given, and again with the audit's fixes taken
   wherever ddddocr agrees with them among the top --fix-top ranks (in train.csv and val.csv,
   through `ctcocr audit --apply`); both keep their best epoch on val.csv (as given, or fixed),
   and both are scored on the corrected test.csv.

Runs go to benchmarks/runs/audit/ (ignored by git). Run again, the same command resumes the
audit where it stopped, and reuses the test scores of the retrainings already done.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASET = HERE.parent.parent / "shared" / "datasets" / "henan_univ_digits"
SPLITS = ("train.csv", "val.csv", "test.csv")
# `1616.jpg` 1772→7772: the file, its original (wrong) label, the corrected one
CORRECTION = re.compile(r"`(?P<file>[^`]+)` (?P<wrong>[^\s,→]+)→(?P<right>[^\s,.]+)")


def ctcocr(*args: str, capture: bool = True) -> str:
    """Run the ctcocr command as a user would; return its stdout if captured."""
    print("$ ctcocr " + " ".join(args), flush=True)
    output = subprocess.PIPE if capture else None
    command = [sys.executable, "-m", "ctcocr", *args]
    return subprocess.run(command, check=True, stdout=output, text=True).stdout or ""


def planted_labels(dataset: Path) -> dict[str, tuple[str, str]]:
    """DATASET.md's corrected test labels: file name -> (original wrong label, right label)."""
    text = (dataset / "DATASET.md").read_text(encoding="utf-8")
    section = text.split("## Corrected test labels", 1)[-1].split("\n## ", 1)[0]
    found = {m["file"]: (m["wrong"], m["right"]) for m in CORRECTION.finditer(section)}
    stated = re.search(r"(\d+) of the [\d,]+ test labels", section)
    if not found or (stated and int(stated.group(1)) != len(found)):
        sys.exit(f"{dataset}/DATASET.md: found {len(found)} corrections, expected {stated}")
    return found


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)


def planted_manifest(dataset: Path, out: Path, limit: int | None, seed: int) -> dict[str, str]:
    """Write out/all.csv (absolute paths) with the wrong test labels put back -> {absolute path
    of each planted image: its wrong label}. With `limit`, the planted images and a seeded
    sample of the others, `limit` in all."""
    planted = planted_labels(dataset)
    rows, wrong = [], {}
    for split in SPLITS:
        for row in read_rows(dataset / split):
            path, label = str((dataset / row["path"]).resolve()), row["label"]
            name = Path(row["path"]).name
            if split == "test.csv" and name in planted:
                if label != planted[name][1]:
                    sys.exit(f"{dataset}/test.csv: {name} is {label!r}, DATASET.md says "
                             f"{planted[name][1]!r}")  # fmt: skip
                label = wrong[path] = planted[name][0]
            rows.append((path, label))
    if len(wrong) != len(planted):
        sys.exit(f"{dataset}: {len(planted) - len(wrong)} corrected file(s) are not in test.csv")
    if limit is not None:
        others = [r for r in rows if r[0] not in wrong]
        random.Random(seed).shuffle(others)
        keep = {r[0] for r in others[: max(0, limit - len(wrong))]} | set(wrong)
        rows = [r for r in rows if r[0] in keep]
    write_rows(out / "all.csv", rows)
    print(f"{len(rows)} images, {len(wrong)} planted wrong labels: {out / 'all.csv'}")
    return wrong


def ddddocr_reader():  # -> a function: image path -> text
    from peers import ddddocr_reader as ddddocr_bytes

    read = ddddocr_bytes()
    if read is None:
        sys.exit("the judge is ddddocr: pip install -e '.[bench]'")
    return lambda path: read(Path(path).read_bytes())


def judge(rows: list[dict[str, str]], root: Path, read) -> list[str]:
    """For each audit row: 'wrong' (ddddocr reads the audit's reading), 'right' (it reads the
    label) or 'undecided'."""
    verdicts = []
    for row in rows:
        text = read(root / row["path"])
        if row["reading"] != row["label"] and text == row["reading"]:
            verdicts.append("wrong")
        elif text == row["label"]:
            verdicts.append("right")
        else:
            verdicts.append("undecided")
    return verdicts


def audit_table(rows, root: Path, wrong, verdicts, args, minutes: float) -> list[str]:
    ranks = {str((root / row["path"]).resolve()): int(row["rank"]) for row in rows}
    planted_ranks = sorted(ranks[path] for path in wrong)
    found = sum(rank <= args.top_planted for rank in planted_ranks)
    # Only disagreements are claims of a wrong label: agreements ranked in the top N (a set
    # with fewer than N disagreements) count in no precision.
    top = zip(rows[: args.top_judged], verdicts[: args.top_judged], strict=True)
    flagged = [verdict for row, verdict in top if row["reading"] != row["label"]]
    count = {v: flagged.count(v) for v in ("wrong", "right", "undecided")}
    disagreements = sum(row["reading"] != row["label"] for row in rows)
    return [
        "| measure | value | target |",
        "|---|---|---|",
        f"| planted wrong labels in the top {args.top_planted} | {found} of {len(wrong)} | ≥ 18 |",
        f"| precision of the top {args.top_judged} (ddddocr reads the audit's reading) | "
        f"{count['wrong'] / max(1, len(flagged)):.1%} ({count['wrong']} of {len(flagged)}) "
        "| ≥ 90% |",
        f"| of those, ddddocr reads the label | {count['right']} | |",
        f"| of those, ddddocr reads neither | {count['undecided']} | |",
        f"| readings that disagree with their label | {disagreements} of {len(rows)} | |",
        f"| training minutes per fold (--max-minutes {args.minutes_per_fold:g}) | "
        f"{', '.join(f'{m:.1f}' for m in fold_minutes(root / 'audit'))} | |",
        f"| this command's audit wall time (resumed: less) | {minutes:.1f} min | |",
        "",
        f"ranks of the planted labels: {', '.join(map(str, planted_ranks))}",
    ]


def fold_minutes(audit: Path) -> list[float]:
    """Each fold's training time, across resumes (the last epoch's elapsed time)."""
    runs = sorted((audit / "folds").iterdir(), key=lambda p: int(p.name))
    return [
        json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["elapsed_s"] / 60
        for run in runs
    ]


def fixes_for(rows, verdicts, root: Path, top: int) -> list[tuple[str, str]]:
    """(absolute path, reading) of the top `top` rows that ddddocr confirms are wrong."""
    return [
        (str((root / row["path"]).resolve()), row["reading"])
        for row, verdict in zip(rows[:top], verdicts[:top], strict=True)
        if verdict == "wrong"
    ]


def retrain(
    dataset: Path, out: Path, fixes: list[tuple[str, str]], minutes: float, extra: list[str]
) -> list[str]:
    """Train on train.csv as given and with the fixes (fresh runs); score both on the corrected
    test.csv."""
    data = {"as given": (dataset / "train.csv", dataset / "val.csv")}
    fixed = []
    for split in ("train", "val"):
        listed = {str((dataset / r["path"]).resolve()) for r in read_rows(dataset / f"{split}.csv")}
        split_fixes = out / f"fixes-{split}.csv"
        write_rows(split_fixes, [fix for fix in fixes if fix[0] in listed])
        target = out / f"{split}-fixed.csv"
        ctcocr("audit", "--apply", str(split_fixes), str(dataset / f"{split}.csv"),
               "--out", str(target))  # fmt: skip
        fixed.append(target)
    changed = sum(
        a["label"] != b["label"]
        for a, b in zip(read_rows(dataset / "train.csv"), read_rows(fixed[0]), strict=True)
    )
    data[f"fixed ({changed} training labels)"] = (fixed[0], fixed[1])
    lines = ["| training labels | test seq. acc. | errors |", "|---|---|---|"]
    for number, (name, (train, val)) in enumerate(data.items()):
        run = out / f"retrain-{number}"
        scores = out / f"retrain-{number}.json"  # kept: the command run again reuses it
        if scores.exists():
            result = json.loads(scores.read_text(encoding="utf-8"))
        else:
            flags = ["--val", str(val), "--max-minutes", str(minutes), "--out", str(run)]
            shutil.rmtree(run, ignore_errors=True)
            ctcocr("train", str(train), *flags, *extra, capture=False)
            text = ctcocr("evaluate", str(run), str(dataset / "test.csv"), "--json")
            scores.with_suffix(".tmp").write_text(text, encoding="utf-8")
            scores.with_suffix(".tmp").replace(scores)
            result = json.loads(text)
        lines.append(f"| {name} | {result['sequence_accuracy']:.2%} | {len(result['errors'])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--out", type=Path, help="run folder (default: benchmarks/runs/audit/…)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--minutes-per-fold", type=float, default=4.0, help="training per fold")
    parser.add_argument("--limit", type=int, help="audit the planted images and N - 21 others")
    parser.add_argument("--seed", type=int, default=0, help="folds, and the --limit sample")
    parser.add_argument("--top-planted", type=int, default=250)
    parser.add_argument("--top-judged", type=int, default=150)
    parser.add_argument("--retrain-minutes", type=float, help="also train on the fixed labels")
    parser.add_argument("--fix-top", type=int, default=250, help="ranks whose fixes are taken")
    parser.add_argument("--extra", default="", help="more flags for audit and train, quoted")
    args = parser.parse_args()
    name = (
        f"{'all' if args.limit is None else args.limit}-{args.folds}x{args.minutes_per_fold:g}min"
    )
    out = args.out or HERE / "runs" / "audit" / name
    read = ddddocr_reader()  # before the audit: a missing judge fails at once
    wrong = planted_manifest(args.dataset, out, args.limit, args.seed)
    started = time.monotonic()
    ctcocr("audit", str(out / "all.csv"), "--out", str(out / "audit"), "--folds",
           str(args.folds), "--max-minutes", str(args.minutes_per_fold), "--seed", str(args.seed),
           *args.extra.split(), capture=False)  # fmt: skip
    minutes = (time.monotonic() - started) / 60
    rows = read_rows(out / "audit" / "audit.csv")
    judged = rows[: max(args.top_judged, args.fix_top)]
    verdicts = judge(judged, out, read)
    lines = audit_table(rows, out, wrong, verdicts, args, minutes)
    if args.retrain_minutes:
        fixes = fixes_for(judged, verdicts, out, args.fix_top)
        lines += ["", *retrain(args.dataset, out, fixes, args.retrain_minutes, args.extra.split())]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"(also in {out / 'summary.md'}; review the ranking in {out / 'audit' / 'audit.html'})")


if __name__ == "__main__":
    main()
