"""`ctcocr audit DATA --out DIR`: find the labels most likely wrong.

The images are dealt into k folds (a seeded shuffle). Fold N's model trains on the other folds,
keeps its best epoch on fold N (or on --val when given), and reads fold N, so every image is
read by a model that never trained on it. Each reading is weighed against its label
(evaluation/audit_scores.py explains the score) and the images are ranked, likeliest wrong
label first:

    DIR/audit.csv     every image: rank, path, label, reading, confidence, label_probability,
                      score, fold
    DIR/audit.html    the first --page-rows ranks with their images: review, export fixes.csv
    DIR/audit.json    what was audited (k, the seed, a fingerprint of the paths and labels)
    DIR/folds/N/      fold N's run folder, as `ctcocr train` writes it, plus train.csv and
                      heldout.csv: the images it trained on and the ones it read

Each fold is trained by `train_command` with the audit's flags, which are `train`'s.
--max-minutes is per fold; given neither it nor --epochs, every fold trains for
DEFAULT_FOLD_MINUTES. Run again, the same command resumes a killed audit: a finished fold
(folds/N/fold.json) is not retrained, an unfinished one continues from its last epoch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ctcocr.core.charset import Charset
from ctcocr.core.config import TrainConfig
from ctcocr.core.config_flags import from_args
from ctcocr.core.errors import ConfigError, DataError
from ctcocr.core.run_folder import CONFIG, write_atomic, write_json
from ctcocr.data.packing import is_packed
from ctcocr.data.relabel import data_root, listed_path, write_manifest
from ctcocr.data.samples import Sample, check_images, duplicate_paths, fold_case, read_samples
from ctcocr.evaluation.audit_html import write_audit_page
from ctcocr.evaluation.audit_scores import AuditRow, rank_rows, score_images, write_audit_csv
from ctcocr.training.outputs import Log, print_line

DEFAULT_FOLD_MINUTES = 3.0
FOLDS, AUDIT_JSON, AUDIT_CSV, AUDIT_HTML = "folds", "audit.json", "audit.csv", "audit.html"
FOLD_DONE, TRAIN_LIST, HELD_OUT_LIST = "fold.json", "train.csv", "heldout.csv"


@dataclass(frozen=True)
class AuditOptions:
    """What the audit adds to `train`'s flags."""

    folds: int = field(
        default=5, metadata={"help": "models trained, each holding out 1/k of the images"}
    )
    page_rows: int = field(
        default=500, metadata={"help": "ranks shown on audit.html (all are in audit.csv)"}
    )

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"folds={self.folds}: use at least 2")
        if self.page_rows < 1:
            raise ConfigError(f"page_rows={self.page_rows}: show at least 1 row")


@dataclass(frozen=True)
class AuditResult:
    """The ranked rows and where they were written."""

    rows: list[AuditRow]
    csv: Path
    page: Path


def assign_folds(count: int, folds: int, seed: int) -> list[int]:
    """The fold (1..folds) of each of `count` images: a seeded shuffle dealt round-robin, so the
    folds differ in size by at most one image."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    assignment = [0] * count
    for position, index in enumerate(order):
        assignment[index] = position % folds + 1
    return assignment


def audit_command(
    args: argparse.Namespace, options: AuditOptions, log: Log = print_line
) -> AuditResult:
    """Train the folds (those not finished yet), read every image with its held-out model,
    rank, and write audit.csv and audit.html in `args.out`."""
    args, config = _with_budget(args)
    samples = audit_samples(args.data, config, args.label_pattern, log)
    if len(samples) < options.folds:
        raise DataError(
            f"{args.data}: {len(samples)} image(s) cannot make {options.folds} folds: "
            "give fewer --folds or more images"
        )
    out = Path(args.out)
    assignment = assign_folds(len(samples), options.folds, config.seed)
    _check_out(out, _record(samples, options, config))
    charset = args.charset or _charset(samples, args.val, args.label_pattern)
    clock = FoldClock(options.folds, config.max_minutes)
    for fold in range(1, options.folds + 1):
        train, held = _split(samples, assignment, fold)
        _train_fold(args, out / FOLDS / str(fold), fold, train, held, charset, clock, log)
    root = data_root(Path(args.data))
    rows: list[AuditRow] = []
    for fold in range(1, options.folds + 1):
        _, held = _split(samples, assignment, fold)
        rows += _read_fold(out / FOLDS / str(fold), fold, held, root, config, log)
    return _write(out, rank_rows(rows), samples, root, options, args.data)


def _split(
    samples: list[Sample], assignment: list[int], fold: int
) -> tuple[list[Sample], list[Sample]]:
    """-> (the images fold `fold`'s model trains on, the ones it holds out and reads)."""
    train = [s for s, f in zip(samples, assignment, strict=True) if f != fold]
    held = [s for s, f in zip(samples, assignment, strict=True) if f == fold]
    return train, held


def audit_samples(
    data: Path | None, config: TrainConfig, label_pattern: str, log: Log
) -> list[Sample]:
    """DATA's labelled images, each path once, checked (all readable, or --skip-bad)."""
    if data is None:
        raise DataError("no data to audit: give a dataset path (--synthetic is not audited)")
    if is_packed(data):
        raise DataError(
            f"{data}: packed shards are not audited: give the image files they were packed from"
        )
    samples, repeated = duplicate_paths(read_samples(data, label_pattern))
    if repeated:
        log(f"warning: {data}: {len(repeated)} duplicate path(s) listed again, audited once")
    samples = fold_case(samples) if config.ignore_case else samples
    good, bad = check_images(samples, config.skip_bad)
    if bad:
        log(f"skipped {len(bad)} unreadable image(s) (--skip-bad): they are not audited")
    return good


class FoldClock:
    """How long the folds take, for the estimate of the time left."""

    def __init__(self, folds: int, minutes_per_fold: float | None) -> None:
        self.folds, self.budget_s = folds, minutes_per_fold * 60 if minutes_per_fold else None
        self.durations: list[float] = []

    def left(self, folds_left: int) -> str:
        """'about N min left', from the folds trained so far, else from the budget."""
        if folds_left <= 0:
            return "reading the held-out images next"
        per_fold = sum(self.durations) / len(self.durations) if self.durations else self.budget_s
        if per_fold is None:
            return "time left known after the first fold"
        return f"about {folds_left * per_fold / 60:.1f} min of training left"


def _with_budget(args: argparse.Namespace) -> tuple[argparse.Namespace, TrainConfig]:
    """The flags with the default per-fold budget when neither --epochs nor --max-minutes."""
    if getattr(args, "synthetic", False):
        raise DataError("--synthetic images have no labels to audit: give a dataset path")
    if args.epochs is None and args.max_minutes is None:
        args = argparse.Namespace(**{**vars(args), "max_minutes": DEFAULT_FOLD_MINUTES})
    return args, from_args(TrainConfig, args)


def _record(samples: list[Sample], options: AuditOptions, config: TrainConfig) -> dict[str, object]:
    digest = hashlib.sha1()
    for sample in samples:
        digest.update(f"{Path(sample.path).resolve()}\t{sample.label}\n".encode())
    return {
        "count": len(samples),
        "fingerprint": digest.hexdigest(),
        "folds": options.folds,
        "seed": config.seed,
    }


def _check_out(out: Path, record: dict[str, object]) -> None:
    """A new DIR, or one holding an audit of the same images, folds and seed (resumed)."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file: give a folder for the audit")
    if (out / CONFIG).is_file():
        raise DataError(f"--out {out} holds a training run: give a new folder for the audit")
    stored_path = out / AUDIT_JSON
    if stored_path.is_file():
        try:
            stored = json.loads(stored_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            stored = {}  # damaged: cannot tell that it is the same audit
        if not isinstance(stored, dict) or {k: stored.get(k) for k in record} != record:
            raise DataError(
                f"{out} holds an audit of other images or labels, or with another --folds or "
                "--seed: give a new --out (or delete the folder to start again)"
            )
    write_json(stored_path, record)


def _charset(samples: list[Sample], val: Path | None, label_pattern: str) -> str:
    """Every fold gets the characters of all the labels, so each can weigh any label."""
    labels = [s.label for s in samples]
    if val is not None:
        labels += [s.label for s in read_samples(val, label_pattern)]
    return Charset.from_labels(labels).chars


def _train_fold(
    args: argparse.Namespace,
    run: Path,
    fold: int,
    train: list[Sample],
    held: list[Sample],
    charset: str,
    clock: FoldClock,
    log: Log,
) -> None:
    """Train fold `fold` into `run` unless it is finished; an unfinished one resumes."""
    from ctcocr.training.command import train_command

    name = f"fold {fold}/{clock.folds}"
    if (run / FOLD_DONE).is_file():
        log(f"{name}: trained already ({run}), not retrained")
        return
    started = time.monotonic()
    log(
        f"{name}: training on {len(train)} images, then reading the {len(held)} it holds out; "
        f"{clock.left(clock.folds - fold + 1)}"
    )
    _write_list(run / TRAIN_LIST, train)
    _write_list(run / HELD_OUT_LIST, held)
    fold_args = {
        "data": run / TRAIN_LIST,
        "val": args.val if args.val is not None else run / HELD_OUT_LIST,
        "out": run,
        "resume": (run / CONFIG).is_file(),  # killed before: continue it
        "charset": charset,
    }
    train_command(argparse.Namespace(**{**vars(args), **fold_args}), None)
    clock.durations.append(time.monotonic() - started)
    done = {
        "fold": fold,
        "train": len(train),
        "held_out": len(held),
        "seconds": round(clock.durations[-1], 1),
    }
    write_json(run / FOLD_DONE, done)
    log(f"{name} trained in {clock.durations[-1] / 60:.1f} min; {clock.left(clock.folds - fold)}")


def _write_list(path: Path, samples: list[Sample]) -> None:
    rows = [(str(Path(s.path).resolve()), s.label) for s in samples]
    write_atomic(path, lambda tmp: write_manifest(tmp, rows))


def _read_fold(
    run: Path, fold: int, held: list[Sample], root: Path, config: TrainConfig, log: Log
) -> list[AuditRow]:
    from ctcocr.runtime.recognizer import Recognizer
    from ctcocr.training.trainer import pick_device

    log(f"reading the {len(held)} images fold {fold} held out")
    reader = Recognizer(run, device=str(pick_device(config.device)))
    names = [listed_path(s.path, root) for s in held]
    return score_images(reader, [s.path for s in held], [s.label for s in held], names, fold)


def _write(
    out: Path,
    rows: list[AuditRow],
    samples: list[Sample],
    root: Path,
    options: AuditOptions,
    data: Path,
) -> AuditResult:
    images = {listed_path(s.path, root): s.path for s in samples}
    shown = rows[: options.page_rows]
    disagreements = sum(row.disagrees for row in rows)
    summary = (
        f"{len(rows)} images of {data}, each read by the one of {options.folds} models that "
        f"never trained on it; {disagreements} readings disagree with their label. Ranks 1 to "
        f"{len(shown)} are shown, likeliest wrong label first; audit.csv holds them all."
    )
    write_audit_csv(out / AUDIT_CSV, rows)
    write_audit_page(out / AUDIT_HTML, shown, [images[row.path] for row in shown], summary)
    return AuditResult(rows, out / AUDIT_CSV, out / AUDIT_HTML)
