"""`ctcocr audit`: find the labels most likely wrong, and apply the fixes. Thin: parse, call,
print (the logic is training/audit.py and data/relabel.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctcocr.cli.flags import training_flags
from ctcocr.core.errors import DataError

SHOWN = 10  # disagreements printed; the rest are in audit.csv


def add_audit_parser(commands: argparse._SubParsersAction) -> None:
    from ctcocr.core.config_flags import add_fields
    from ctcocr.training.audit import DEFAULT_FOLD_MINUTES, AuditOptions

    audit = commands.add_parser(
        "audit",
        help="find the labels most likely wrong: k models, each reads the images it held out",
        description=(
            "Train k models on k folds of DATA, read every image with the model that never "
            "trained on it, and rank the images by how confidently the reading disagrees with "
            "the label (DIR/audit.csv, DIR/audit.html). The training flags are train's; "
            f"--max-minutes is per fold (default {DEFAULT_FOLD_MINUTES:g} when neither it nor "
            "--epochs is given). Run the same command again to resume a killed audit. "
            "With --apply FIXES.csv, write DATA with the fixed labels to --out NEW.csv instead."
        ),
    )
    training_flags(audit)
    audit.add_argument(
        "--out", type=Path, required=True, help="audit folder; with --apply, the CSV to write"
    )
    audit.add_argument(
        "--init",
        type=Path,
        help="start every fold from this run's weights (one not trained on DATA)",
    )
    audit.add_argument("--apply", type=Path, metavar="FIXES.csv",
                       help="path,label rows to change: write DATA with them to --out, train "
                       "nothing; DATA is left as it is")  # fmt: skip
    add_fields(audit, AuditOptions)


def cmd_audit(args: argparse.Namespace) -> int:
    if args.apply is not None:
        return _apply(args)
    from ctcocr.core.config_flags import from_args
    from ctcocr.training.audit import AuditOptions, audit_command

    result = audit_command(args, from_args(AuditOptions, args))
    disagreeing = [row for row in result.rows if row.disagrees]
    print(f"{len(disagreeing)} of {len(result.rows)} readings disagree with their label")
    if disagreeing:
        print("rank  score  confidence  label -> reading  path")
    for row in disagreeing[:SHOWN]:
        print(
            f"{row.rank:4d}  {row.score:5.1f}  {row.confidence:10.1%}  "
            f"{row.label} -> {row.reading or '(nothing)'}  {row.path}"
        )
    print(f"ranked in {result.csv}; review them in {result.page}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from ctcocr.data.relabel import apply_fixes

    if args.data is None:
        raise DataError("--apply needs DATA: the dataset whose labels the fixes correct")
    done = apply_fixes(args.apply, args.data, args.out, args.label_pattern)
    same = f" ({done.unchanged} already had that label)" if done.unchanged else ""
    print(
        f"wrote {done.out}: {done.count} images, {done.changed} label(s) changed{same}; "
        f"{args.data} is unchanged"
    )
    return 0
