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
import io
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ctcocr.core.charset import Charset
from ctcocr.core.errors import ConfigError, DataError, ImageError, LabelError
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
    reader = csv.DictReader(io.StringIO(read_text(csv_path), newline=""))
    try:
        if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
            raise DataError(
                f"{csv_path}: the first line must be the header 'path,label' "
                f"(found {reader.fieldnames})"
            )
        for row in reader:
            line = reader.line_num  # the row's last line: a quoted label may span lines
            relative, label = row["path"] or "", row["label"] or ""
            if not relative:
                raise DataError(f"{csv_path}, line {line}: the path is empty")
            samples.append(Sample(_existing(root, relative, csv_path, line), label))
    except csv.Error as exc:
        raise DataError(
            f"{csv_path}, line {reader.line_num}: not a readable CSV row ({exc}): fix the row"
        ) from exc
    return samples


def read_text(path: Path) -> str:
    """A label list's text: UTF-8, with or without a byte-order mark; DataError naming the line
    of the first byte that is not UTF-8 (a file saved as cp1252 by Excel, or GBK)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror}): check the file") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        # GBK first: cp1252 decodes nearly any bytes, GBK text only rarely fails to be GBK.
        guess = next((e for e in ("GBK", "CP1252") if _decodes(data, e)), "CP1252")
        raise DataError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}; Excel writes "
            f"CP1252, Chinese tools GBK): convert it, e.g. `iconv -f {guess} -t UTF-8 "
            f"{path.name} > {path.stem}-utf8{path.suffix}`, and give the converted file"
        ) from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def read_tab_list(list_path: Path) -> list[Sample]:
    """Lines of `path<TAB>label` (PaddleOCR's format), paths relative to the list's folder.

    Blank lines are skipped; the label is everything after the first tab, so it may hold
    spaces (but not a trailing newline)."""
    samples: list[Sample] = []
    text = read_text(list_path)
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
    pattern = compile_label_pattern(label_pattern)
    samples = []
    for file in image_files(folder):
        if not is_utf8(file.name):
            raise DataError(
                f"{printable(file)}: the file name is not valid UTF-8, so its label cannot be "
                "read: rename the file (e.g. `convmv -f latin1 -t utf8 --notest FILE`)"
            )
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


def compile_label_pattern(label_pattern: str) -> re.Pattern[str]:
    """The --label-pattern, compiled; ConfigError when it is no regex or lacks the label group."""
    try:
        pattern = re.compile(label_pattern)
    except re.error as exc:
        raise ConfigError(
            f"--label-pattern {label_pattern!r} is not a valid regular expression ({exc}): "
            f"fix it; the default is {DEFAULT_LABEL_PATTERN!r}"
        ) from None
    if "label" not in pattern.groupindex:
        raise DataError(f"label pattern {label_pattern!r} needs a named group (?P<label>...)")
    return pattern


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name.

    Hidden files (names starting with '.') are left out: macOS writes `._x.png` beside every
    `x.png` on foreign disks, and they are not images."""
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def is_utf8(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (Python holds them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: Path | str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_labels(samples: Sequence[Sample], charset: Charset, max_length: int) -> None:
    """Raise, listing the offenders, if a label is empty, too long, or outside the charset."""
    check_not_empty(samples)
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


def check_not_empty(samples: Sequence[Sample]) -> None:
    """LabelError listing the samples whose label is empty: nothing to learn or score."""
    empty = [s for s in samples if not s.label]
    if empty:
        raise LabelError(f"{_listing(empty)} have an empty label: label or remove them")


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
        paths = "\n  ".join(printable(s.path) for s in bad)
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
