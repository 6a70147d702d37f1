"""Labelled image sets: find them on disk and check them before any training starts.

A dataset is a list of `Sample(path, label)`. It can come from
- a folder with `labels.csv` (header `path,label`, paths relative to the folder),
- a CSV manifest anywhere (paths relative to the CSV), e.g. `shared/datasets/x/train.csv`,
- a tab-separated list `path<TAB>label` per line (.txt or .tsv, as PaddleOCR writes them),
- a folder of images named by their labels: `2b827.png`, `2b827_3.png` -> "2b827".
No torch here: evaluation and torch-free inference read data the same way.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ctcocr.core.charset import Charset
from ctcocr.core.errors import DataError, ImageError, LabelError
from ctcocr.data.images import IMAGE_SUFFIXES, load_image

DEFAULT_LABEL_PATTERN = r"^(?P<label>[^_]+)"
TAB_SUFFIXES = frozenset({".txt", ".tsv"})
_MAX_LISTED = 10


class Sample(NamedTuple):
    path: Path
    label: str


def read_samples(source: str | Path, label_pattern: str = DEFAULT_LABEL_PATTERN) -> list[Sample]:
    """All samples of a dataset folder, CSV manifest or folder of label-named images."""
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder: check the data path")
    if path.is_file():
        if path.suffix.lower() in TAB_SUFFIXES:
            samples = read_tab_list(path)
        elif path.suffix.lower() == ".csv":
            samples = read_manifest(path)
        else:
            raise DataError(
                f"{path}: not a dataset: give a folder, a .csv with path,label rows, "
                "or a .txt/.tsv with path<TAB>label lines"
            )
    elif (path / "labels.csv").is_file():
        samples = read_manifest(path / "labels.csv")
    else:
        samples = read_named_images(path, label_pattern)
    if not samples:
        raise DataError(f"{path}: the dataset is empty: add labelled images")
    return samples


def read_manifest(csv_path: Path) -> list[Sample]:
    """Rows of `path,label`, paths relative to the CSV file's folder."""
    root = csv_path.parent
    samples: list[Sample] = []
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise DataError(
                f"{csv_path}: the first line must be the header 'path,label' "
                f"(found {reader.fieldnames})"
            )
        for line, row in enumerate(reader, start=2):
            relative, label = row["path"] or "", row["label"] or ""
            if not relative:
                raise DataError(f"{csv_path}, line {line}: the path is empty")
            samples.append(Sample(_existing(root, relative, csv_path, line), label))
    return samples


def read_tab_list(list_path: Path) -> list[Sample]:
    """Lines of `path<TAB>label` (PaddleOCR's format), paths relative to the list's folder.

    Blank lines are skipped; the label is everything after the first tab, so it may hold
    spaces (but not a trailing newline)."""
    samples: list[Sample] = []
    text = list_path.read_text(encoding="utf-8-sig")
    for line, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        relative, tab, label = row.partition("\t")
        if not tab or not relative:
            raise DataError(
                f"{list_path}, line {line}: expected 'path<TAB>label', found {row[:80]!r}: "
                "separate the path and the label with one tab"
            )
        samples.append(Sample(_existing(list_path.parent, relative, list_path, line), label))
    return samples


def _existing(root: Path, relative: str, listing: Path, line: int) -> Path:
    """root / relative, or DataError naming the list file and its line."""
    image_path = root / relative
    if not image_path.is_file():
        raise DataError(
            f"{listing}, line {line}: image {relative!r} does not exist "
            f"(looked for {image_path}): fix or remove the row"
        )
    return image_path


def read_named_images(folder: Path, label_pattern: str = DEFAULT_LABEL_PATTERN) -> list[Sample]:
    """Images whose file names hold their labels; the pattern's `label` group is the label."""
    pattern = re.compile(label_pattern)
    if "label" not in pattern.groupindex:
        raise DataError(f"label pattern {label_pattern!r} needs a named group (?P<label>...)")
    samples = []
    for file in image_files(folder):
        match = pattern.match(file.stem)
        if not match or not match.group("label"):
            raise DataError(
                f"{file}: no label in the file name for pattern {label_pattern!r}: "
                "rename the file or pass another --label-pattern"
            )
        samples.append(Sample(file, match.group("label")))
    if not samples:
        raise DataError(
            f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) and no labels.csv: "
            "point at a folder of labelled images"
        )
    return samples


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_labels(samples: Sequence[Sample], charset: Charset, max_length: int) -> None:
    """Raise, listing the offenders, if a label is empty, too long, or outside the charset."""
    empty = [s for s in samples if not s.label]
    if empty:
        raise LabelError(f"{_listing(empty)} have an empty label: label or remove them")
    outside = [s for s in samples if any(c not in charset.chars for c in s.label)]
    if outside:
        extra = "".join(sorted({c for s in outside for c in s.label if c not in charset.chars}))
        raise LabelError(
            f"{_listing(outside)} have characters {extra!r} outside the charset "
            f"{charset.chars!r}: add them to --charset, or fix the labels"
        )
    too_long = [s for s in samples if len(s.label) > max_length]
    if too_long:
        longest = max(len(s.label) for s in too_long)
        raise LabelError(
            f"{_listing(too_long)} have labels longer than {max_length} characters "
            f"(longest {longest}): CTC needs time_steps >= 2 * {longest} + 1 = {2 * longest + 1}; "
            f"raise --time-steps (with a wider input if needed) or shorten the labels"
        )


def check_images(samples: Sequence[Sample], skip_bad: bool) -> tuple[list[Sample], list[Sample]]:
    """Decode every image once. Returns (good, bad); raises listing all bad unless skip_bad."""
    good, bad = [], []
    for sample in samples:
        try:
            load_image(sample.path)
        except ImageError:
            bad.append(sample)
        else:
            good.append(sample)
    if bad and not skip_bad:
        paths = "\n  ".join(str(s.path) for s in bad)
        raise DataError(
            f"{len(bad)} unreadable image(s); remove them or pass --skip-bad:\n  {paths}"
        )
    if not good:
        raise DataError("no readable images are left: check the data")
    return good, bad


def fold_case(samples: Sequence[Sample]) -> list[Sample]:
    """The samples with lower-cased labels, for sets whose labels disagree on case."""
    return [Sample(s.path, s.label.lower()) for s in samples]


def duplicate_paths(samples: Sequence[Sample]) -> tuple[list[Sample], list[Path]]:
    """-> (samples with each path once, paths listed more than once).

    Raises LabelError when one path carries two different labels: only the user can tell
    which is right."""
    labels: dict[Path, str] = {}
    unique: list[Sample] = []
    repeated: list[Path] = []
    for sample in samples:
        key = sample.path.resolve()
        if key not in labels:
            labels[key] = sample.label
            unique.append(sample)
            continue
        if labels[key] != sample.label:
            raise LabelError(
                f"{sample.path} is listed twice with different labels "
                f"({labels[key]!r} and {sample.label!r}): keep the right row"
            )
        repeated.append(sample.path)
    return unique, repeated


def split(
    samples: Sequence[Sample], fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """A seeded (train, held-out) split; the held-out part has at least one sample."""
    if len(samples) < 2:
        raise DataError(f"{len(samples)} sample(s) cannot be split for validation: give --val")
    order = list(samples)
    random.Random(seed).shuffle(order)
    held = min(len(order) - 1, max(1, round(len(order) * fraction)))
    return order[held:], order[:held]


def _listing(samples: Sequence[Sample]) -> str:
    shown = ", ".join(f"{s.path} ({s.label!r})" for s in samples[:_MAX_LISTED])
    more = f" and {len(samples) - _MAX_LISTED} more" if len(samples) > _MAX_LISTED else ""
    return f"{len(samples)} image(s) [{shown}{more}]"
