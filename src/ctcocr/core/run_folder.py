"""Run folders: what a trained model is on disk, read and written without torch.

    RUN/config.json        RunSpec: charset, preprocessing, model and training config, version,
                           and the SHA-256 of model.safetensors (checked when it is loaded)
    RUN/model.safetensors  weights of the best epoch on validation
    RUN/last.pt            what --resume needs (weights, optimizer, progress); tensors only
    RUN/metrics.jsonl      one line per epoch
    RUN/training.png       the curves

Every file is written to a temporary name and renamed, so a killed run never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig
from ctcocr.core.errors import DataError, ModelFileError
from ctcocr.core.version import __version__

FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
RESUME_STATE = "last.pt"
METRICS = "metrics.jsonl"
CURVES = "training.png"
WEIGHTS_SHA256 = "weights_sha256"  # config.json's record of model.safetensors
# While new weights replace the old: their digest, so that a kill between the two files'
# renames leaves a folder that loads (either digest matches), not one refused as damaged.
NEXT_WEIGHTS_SHA256 = "weights_sha256_next"
# Files only a training writes: a folder holding one of them but no config.json is a run
# that lost its config (or never finished starting), not a folder of images.
RUN_FILES = (WEIGHTS, RESUME_STATE, METRICS)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to rebuild a model and feed it: the content of config.json."""

    charset: Charset
    preprocess: PreprocessConfig
    model: ModelConfig
    training: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    # Logits are divided by it before decoding (calibration.py fits it). Absent from the
    # config.json of older runs, which therefore read as uncalibrated (1.0).
    temperature: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "ctcocr_version": self.version,
            "charset": self.charset.chars,
            "blank_index": 0,
            "preprocess": dataclasses.asdict(self.preprocess),
            "model": dataclasses.asdict(self.model),
            "training": self.training,
            "temperature": self.temperature,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> RunSpec:
        found = data.get("format_version")
        if found != FORMAT_VERSION:
            raise ModelFileError(
                f"{where}: model format {found!r} (ctcocr {data.get('ctcocr_version', '?')}), "
                f"this ctcocr {__version__} reads format {FORMAT_VERSION}: "
                "retrain the model or install the ctcocr version that made it"
            )
        try:
            model = data["model"]
            model = {**model, "widths": tuple(model["widths"]), "depths": tuple(model["depths"])}
            return cls(
                charset=Charset(data["charset"]),
                preprocess=PreprocessConfig(**data["preprocess"]),
                model=ModelConfig(**model),
                training=data.get("training", {}),
                version=data.get("ctcocr_version", "?"),
                temperature=_temperature(data.get("temperature", 1.0), where),
            )
        except (KeyError, TypeError) as exc:
            raise ModelFileError(
                f"{where}: config.json is incomplete or malformed ({exc})"
            ) from exc


def _temperature(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise ModelFileError(
            f"{where}: temperature {value!r} is not a positive number: remove the field "
            "(or run `ctcocr calibrate`) to set it again"
        )
    return float(value)


def read_spec(run_dir: Path) -> RunSpec:
    """The RunSpec of a run folder; ModelFileError if the folder is not a finished run."""
    config_path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise ModelFileError(f"{run_dir}: no such run folder: give the --out folder of a training")
    incomplete = incomplete_run(run_dir)
    if incomplete:
        raise ModelFileError(incomplete)
    if not config_path.is_file() or not (run_dir / WEIGHTS).is_file():
        raise ModelFileError(
            f"{run_dir}: not a ctcocr run (needs {CONFIG} and {WEIGHTS}): "
            "give the --out folder of a finished training"
        )
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{config_path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelFileError(f"{config_path}: not a ctcocr config (expected a JSON object)")
    return RunSpec.from_json(data, str(config_path))


def incomplete_run(folder: Path) -> str | None:
    """What is wrong with a folder that holds a training's files but no config.json, or None."""
    if not folder.is_dir() or (folder / CONFIG).is_file():
        return None
    found = [name for name in RUN_FILES if (folder / name).is_file()]
    if not found:
        return None
    return (
        f"{folder}: an incomplete run: it holds {', '.join(found)} but no {CONFIG}: "
        f"restore its {CONFIG}, or give the --out folder of a finished training"
    )


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary) in path's folder, then rename the result onto path.

    The file gets the permissions a new file gets here (0644 under the usual umask 022), even
    when `write` makes its own private file (safetensors writes 0600 and renames it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}{path.suffix}")
    try:
        # Created first so that the umask decides its mode: reading the umask means setting it,
        # which is not safe with threads.
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        mode = temporary.stat().st_mode & 0o777
        write(temporary)
        if temporary.stat().st_mode & 0o777 != mode:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def check_out(path: Path, folder: bool, flag: str = "--out", data: Sequence[Path] = ()) -> None:
    """Check, before any work, that `path` can be written: a folder to fill (`folder`) or a
    file. DataError, naming the path and the fix, when it lies under a file, in a folder this
    user cannot write, or inside one of the `data` folders (whose listing would then pick up
    what is written there: training.png as an image labelled "training"). `flag` names the
    option in the message ("" for a positional argument)."""
    named = f"{flag} {path}" if flag else str(path)
    if folder and path.exists() and not path.is_dir():
        raise DataError(f"{named} is a file: give a folder")
    if not folder and path.is_dir():
        raise DataError(f"{named} is a folder: give a file name")
    nearest = path if folder else path.parent
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise DataError(f"{named}: {nearest} is a file, not a folder: choose a path in a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise DataError(
            f"{named}: cannot write in {nearest} (permission denied or read-only): "
            "choose a folder you can write"
        )
    target = path.resolve()
    for source in data:
        if source.is_dir() and (target == source.resolve() or source.resolve() in target.parents):
            raise DataError(
                f"{named} is inside the data folder {source}: what is written there would be "
                "read as data next time: choose a folder outside it"
            )


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: _write_text(tmp, text))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def write_spec(run_dir: Path, spec: RunSpec) -> None:
    """Write config.json, with the SHA-256 of the weights beside it when there are any."""
    data = spec.to_json()
    if (run_dir / WEIGHTS).is_file():
        data[WEIGHTS_SHA256] = file_sha256(run_dir / WEIGHTS)
    write_json(run_dir / CONFIG, data)


def record_weights_sha256(run_dir: Path, digest: str, coming: bool = False) -> None:
    """Store the SHA-256 of the weights in config.json, if it is written yet: with `coming`,
    as the digest of weights about to replace the current ones (both then load), else as the
    digest of the weights now in place."""
    path = run_dir / CONFIG
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop(NEXT_WEIGHTS_SHA256, None)
    data.update({NEXT_WEIGHTS_SHA256: digest} if coming else {WEIGHTS_SHA256: digest})
    write_json(path, data)


def check_weights_sha256(run_dir: Path, weights: bytes) -> None:
    """ModelFileError when the weights' bytes differ from what config.json recorded.

    Runs from before the record (no field) load unchecked."""
    data = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    expected = data.get(WEIGHTS_SHA256) if isinstance(data, dict) else None
    coming = data.get(NEXT_WEIGHTS_SHA256) if isinstance(data, dict) else None
    if expected is not None and hashlib.sha256(weights).hexdigest() not in (expected, coming):
        raise ModelFileError(
            f"{run_dir / WEIGHTS}: weights do not match {CONFIG}'s sha256: the file is "
            "damaged; retrain or restore it"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one line; rewriting the whole small file keeps the write atomic."""
    path = run_dir / METRICS
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: _write_text(tmp, old + line))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
