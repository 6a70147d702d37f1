"""Large datasets as sharded tar files in the WebDataset format: `ctcocr pack DATA OUT`.

    OUT/shard-000000.tar   per image: KEY.png (its bytes as stored; .jpg etc. likewise)
                           and KEY.txt (its label, UTF-8); KEY is a 9-digit running number
    OUT/index.json         image count, charset and longest label, per shard and in all

A million small files are listed and opened once, when packing; training then reads a few large
files front to back (`shards.ShardStream`). Any WebDataset reader reads the shards too. No torch
here: packing is file work.

>>> packed = pack(Path("data/"), Path("packed/"), shard_size=10_000)
>>> packed.count, [s.path.name for s in packed.shards][:1]
(100000, ['shard-000000.tar'])
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from braceexpand import braceexpand

from ctcocr.core.charset import Charset
from ctcocr.core.errors import DataError
from ctcocr.core.run_folder import check_out, write_atomic, write_json
from ctcocr.data.samples import DEFAULT_LABEL_PATTERN, check_images, check_labels, read_samples

INDEX = "index.json"
FORMAT = "ctcocr-shards"
FORMAT_VERSION = 1
DEFAULT_SHARD_SIZE = 10_000
_LABEL = "txt"


@dataclass(frozen=True)
class Shard:
    """One tar file: its path, image count, label characters and longest label."""

    path: Path
    count: int
    chars: str
    longest: int


@dataclass(frozen=True)
class ShardSet:
    """Shards that together hold one dataset."""

    shards: tuple[Shard, ...]

    @property
    def count(self) -> int:
        return sum(shard.count for shard in self.shards)

    @property
    def chars(self) -> str:
        return "".join(sorted({c for shard in self.shards for c in shard.chars}))

    @property
    def longest(self) -> int:
        return max(shard.longest for shard in self.shards)

    def hold_out_last(self, where: Path) -> tuple[ShardSet, ShardSet]:
        """(training shards, the last shard) for validation when no --val is given."""
        if len(self.shards) < 2:
            raise DataError(
                f"{where}: one shard only, none left to hold out for validation: give --val, "
                "or pack again with a smaller --shard-size"
            )
        return ShardSet(self.shards[:-1]), ShardSet(self.shards[-1:])


def is_packed(source: Path) -> bool:
    """True for a folder with index.json, a .tar file, or a pattern of .tar files."""
    text = str(source)
    return (source.is_dir() and (source / INDEX).is_file()) or text.endswith(".tar")


def open_shards(source: Path) -> ShardSet:
    """A packed folder, one .tar, a glob (`shard-*.tar`) or braces (`shard-{000000..000009}.tar`).

    Counts come from the folder's index.json when it lists the shard; other shards are read
    once to count them.
    """
    if source.is_dir():
        index = _read_index(source)
        paths = [source / entry["name"] for entry in index["shards"]]
    else:
        paths = sorted({Path(p) for part in braceexpand(str(source)) for p in _glob(part)})
    if not paths:
        raise DataError(
            f"{source}: no shards match: give a folder made by `ctcocr pack` or .tar files"
        )
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: shard missing ({len(missing)} in all): pack the data again")
    return ShardSet(tuple(_describe(path) for path in paths))


def _glob(pattern: str) -> list[str]:
    return glob.glob(pattern) if glob.has_magic(pattern) else [pattern]


def _read_index(folder: Path) -> dict[str, Any]:
    path = folder / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable shard index ({exc}): pack the data again") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DataError(f"{path}: not a ctcocr shard index: pack the data with `ctcocr pack`")
    if index.get("version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: shard format {index.get('version')!r}, this ctcocr reads "
            f"{FORMAT_VERSION}: pack the data again"
        )
    return index


def _describe(path: Path) -> Shard:
    index = path.parent / INDEX
    if index.is_file():
        for entry in _read_index(path.parent)["shards"]:
            if entry["name"] == path.name:
                return Shard(path, entry["count"], entry["chars"], entry["longest"])
    labels = [label for _, _, _, label in read_shard(path)]  # not indexed: read it once
    return Shard(path, len(labels), _chars(labels), max(map(len, labels), default=0))


def read_shard(path: Path) -> Iterator[tuple[str, str, bytes, str]]:
    """(key, image extension, image bytes, label) for each image in a shard, in order."""
    # webdataset imports torch: imported here so that `data` stays torch-free at import
    from webdataset.tariterators import group_by_keys, tar_file_expander, url_opener

    try:
        for sample in group_by_keys(tar_file_expander(url_opener([{"url": str(path)}]))):
            key = sample["__key__"]
            extension = next((k for k in sample if not k.startswith("_") and k != _LABEL), None)
            if extension is None or _LABEL not in sample:
                raise DataError(f"{path}: {key} needs an image and a .txt label: pack it again")
            yield key, extension, sample[extension], sample[_LABEL].decode("utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable shard ({exc}): pack the data again") from exc


def pack(
    source: Path,
    out: Path,
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    label_pattern: str = DEFAULT_LABEL_PATTERN,
) -> tuple[ShardSet, int]:
    """Write the dataset at `source` as shards of `shard_size` images -> (shards, skipped).

    Every image is opened once first, so that bad ones are reported as `ctcocr train` does
    (all listed; `skip_bad` leaves them out). Images are stored as their original bytes.
    """
    if shard_size < 1:
        raise DataError(f"--shard-size {shard_size}: use at least 1")
    check_out(out, folder=True, flag="", data=[source])
    if (out / INDEX).exists():
        raise DataError(f"{out} already holds packed shards ({INDEX}): choose a new folder")
    samples = read_samples(source, label_pattern)
    good, bad = check_images(samples, skip_bad)
    check_labels(good, Charset.from_labels(s.label for s in good), max(len(s.label) for s in good))
    shards = []
    for number, start in enumerate(range(0, len(good), shard_size)):
        chunk = good[start : start + shard_size]
        path = out / f"shard-{number:06d}.tar"
        records = [
            (f"{start + i:09d}", s.path.suffix.lower().lstrip(".") or "img", s.path, s.label)
            for i, s in enumerate(chunk)
        ]
        write_atomic(path, partial(_write_tar, records=records))
        labels = [s.label for s in chunk]
        shards.append(Shard(path, len(chunk), _chars(labels), max(map(len, labels))))
    packed = ShardSet(tuple(shards))
    write_json(out / INDEX, _index(packed, source))
    return packed, len(bad)


def _write_tar(path: Path, records: list[tuple[str, str, Path, str]]) -> None:
    from webdataset import TarWriter  # imports torch (see read_shard)

    with path.open("wb") as handle:
        writer = TarWriter(handle, encoder=False)
        for key, extension, image_path, label in records:
            writer.write(
                {"__key__": key, extension: image_path.read_bytes(), _LABEL: label.encode()}
            )
        writer.close()


def _index(packed: ShardSet, source: Path) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": str(source),
        "count": packed.count,
        "chars": packed.chars,
        "longest": packed.longest,
        "shards": [
            {"name": s.path.name, "count": s.count, "chars": s.chars, "longest": s.longest}
            for s in packed.shards
        ],
    }


def _chars(labels: list[str]) -> str:
    return "".join(sorted({c for label in labels for c in label}))
