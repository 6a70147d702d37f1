"""The models in a folder served by `ctcocr serve DIR`, each under its name, and what tells a
changed file from an unchanged one without opening it.

    DIR/plates/         a run folder (config.json, model.safetensors): served as "plates"
    DIR/captcha.onnx    an export: served as "captcha"

Anything else in DIR is left alone: hidden entries (`write_atomic`'s temporaries, editors'
swap files), other files, and folders that hold no run.
"""

from __future__ import annotations

import os
from pathlib import Path

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import CONFIG, WEIGHTS

# What a model's files looked like when last opened: (inode, size, mtime) of each file it reads.
# A copy over the file changes size or mtime; `mv new.onnx a.onnx` changes the inode even when
# the new file is older.
Stamp = tuple[tuple[int, int, int] | None, ...]


def is_run_folder(path: Path) -> bool:
    """A folder holding a training's config or weights (complete or not)."""
    return path.is_dir() and ((path / CONFIG).exists() or (path / WEIGHTS).exists())


def model_name(path: Path) -> str | None:
    """The name `path` is served under, or None if it is not a model."""
    if path.name.startswith("."):
        return None
    if path.suffix.lower() == ".onnx" and path.is_file():
        return path.stem
    return path.name if is_run_folder(path) else None


def find_models(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """({name: path} of the models in `folder`, {name: error} for names two entries share).

    >>> find_models(Path("models"))
    ({'captcha': PosixPath('models/captcha.onnx'), 'plates': PosixPath('models/plates')}, {})
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise ModelFileError(f"{folder}: cannot list the model folder ({exc.strerror})") from exc
    paths: dict[str, list[Path]] = {}
    for path in entries:
        name = model_name(path)
        if name is not None:
            paths.setdefault(name, []).append(path)
    found = {name: found[0] for name, found in paths.items() if len(found) == 1}
    clashes = {
        name: f"two models are named {name!r}: {' and '.join(map(str, found))}: "
        "rename or remove one"
        for name, found in paths.items()
        if len(found) > 1
    }
    return found, clashes


def stamp(path: Path) -> Stamp:
    """What changes when the files a model is opened from change (a cheap stat, no reading)."""
    files = (path / CONFIG, path / WEIGHTS) if path.is_dir() else (path,)
    return tuple(_file_stamp(file) for file in files)


def _file_stamp(file: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(file)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def check_folder(folder: Path) -> dict[str, Path]:
    """The models of `folder` to start with; a clear error if there are none, or two of a name."""
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such folder: give a run folder, a .onnx or a folder")
    found, clashes = find_models(folder)
    if clashes:
        raise ModelFileError("; ".join(clashes.values()))
    if not found:
        raise ModelFileError(
            f"{folder}: no models in this folder: put run folders (config.json and "
            "model.safetensors) or .onnx files from `ctcocr export` in it"
        )
    return found
