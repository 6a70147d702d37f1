"""Correcting a dataset's labels without touching it: `ctcocr audit --apply FIXES.csv DATA
--out NEW.csv`.

FIXES.csv holds `path,label` rows for the images whose label changes (the audit page's export
writes it); the paths are as `audit.csv` names them, relative to DATA's folder (or absolute).
NEW.csv is a complete manifest: every image of DATA, in DATA's order, with the fixed labels;
its paths are relative to NEW.csv's folder, or absolute for images outside it. No torch here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ctcocr.core.errors import DataError, LabelError
from ctcocr.core.run_folder import write_atomic
from ctcocr.data.samples import DEFAULT_LABEL_PATTERN, Sample, read_samples


@dataclass(frozen=True)
class Relabelled:
    """What `apply_fixes` wrote: `changed` labels differ from DATA's, `unchanged` fixes
    repeated the label DATA already had, `count` rows in all."""

    out: Path
    count: int
    changed: int
    unchanged: int


def data_root(data: Path) -> Path:
    """The folder DATA's paths are relative to: a list file's folder, or DATA itself."""
    return data.parent if data.is_file() else data


def listed_path(image: Path, root: Path) -> str:
    """`image` relative to `root` as audit.csv and the fixes name it, or absolute when it lies
    outside `root` (symlinks kept as they are, so the name is the one the dataset lists)."""
    absolute = os.path.abspath(image)
    relative = os.path.relpath(absolute, os.path.abspath(root))
    return absolute if relative.split(os.sep)[0] == os.pardir else relative


def manifest_of(data: Path) -> Path | None:
    """The file that lists DATA's labels, if it is one (a folder of label-named images has
    none)."""
    if data.is_file():
        return data
    labels = data / "labels.csv"
    return labels if labels.is_file() else None


def read_fixes(fixes: Path) -> list[tuple[int, str, str]]:
    """FIXES.csv -> (line, path, label) rows; DataError for a missing file or header, an empty
    path, an empty label."""
    if not fixes.is_file():
        raise DataError(f"{fixes}: no such file: give the CSV the audit page exported")
    try:
        return _fix_rows(fixes)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{fixes}: not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8"
        ) from None


def _fix_rows(fixes: Path) -> list[tuple[int, str, str]]:
    rows: list[tuple[int, str, str]] = []
    with fixes.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise DataError(
                f"{fixes}: the first line must be the header 'path,label' "
                f"(found {reader.fieldnames})"
            )
        for line, row in enumerate(reader, start=2):
            path, label = row["path"] or "", row["label"] or ""
            if not path:
                raise DataError(f"{fixes}, line {line}: the path is empty")
            if not label:
                raise LabelError(
                    f"{fixes}, line {line}: {path} has an empty label: give the text the image "
                    "shows, or remove the row to keep DATA's label"
                )
            rows.append((line, path, label))
    return rows


def apply_fixes(
    fixes: Path, data: Path, out: Path, label_pattern: str = DEFAULT_LABEL_PATTERN
) -> Relabelled:
    """Write DATA with FIXES' labels to `out` (a new CSV manifest); DATA is left as it is."""
    _check_out(out, data, fixes)
    samples = read_samples(data, label_pattern)
    root = data_root(data)
    index = {os.path.abspath(s.path): n for n, s in enumerate(samples)}
    new_labels: dict[int, str] = {}
    for line, path, label in read_fixes(fixes):
        found = index.get(os.path.abspath(root / path))
        if found is None:
            raise DataError(
                f"{fixes}, line {line}: {path} is not an image of {data} (looked for "
                f"{root / path}): paths are relative to {root}, as audit.csv writes them"
            )
        if new_labels.get(found, label) != label:
            raise LabelError(
                f"{fixes}, line {line}: {path} is fixed twice, to {new_labels[found]!r} and "
                f"{label!r}: keep the right row"
            )
        new_labels[found] = label
    changed = sum(samples[n].label != label for n, label in new_labels.items())
    fixed = [Sample(s.path, new_labels.get(n, s.label)) for n, s in enumerate(samples)]
    rows = [(listed_path(s.path, out.parent), s.label) for s in fixed]
    write_atomic(out, lambda tmp: write_manifest(tmp, rows))
    return Relabelled(out, len(fixed), changed, len(new_labels) - changed)


def _check_out(out: Path, data: Path, fixes: Path) -> None:
    if out.suffix.lower() != ".csv":
        raise DataError(f"--out {out}: give a .csv file for the corrected manifest")
    if out.is_dir():
        raise DataError(f"--out {out} is a folder: give a .csv file to write")
    target = os.path.abspath(out)
    manifest = manifest_of(data)
    if manifest is not None and target == os.path.abspath(manifest):
        raise DataError(
            f"--out {out} is DATA's own manifest: the originals are never overwritten; "
            "write the corrected labels to a new file"
        )
    if target == os.path.abspath(fixes):
        raise DataError(f"--out {out} is the fixes file itself: write to a new file")


def write_manifest(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """A CSV manifest: the header `path,label`, then the rows."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
