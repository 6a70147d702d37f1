"""Run folders: what a trained model is on disk, read and written without torch.

    RUN/config.json        RunSpec: charset, preprocessing, model and training config, version
    RUN/model.safetensors  weights of the best epoch on validation
    RUN/last.pt            what --resume needs (weights, optimizer, progress); tensors only
    RUN/metrics.jsonl      one line per epoch
    RUN/training.png       the curves

Every file is written to a temporary name and renamed, so a killed run never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig
from ctcocr.core.errors import ModelFileError
from ctcocr.core.version import __version__

FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
RESUME_STATE = "last.pt"
METRICS = "metrics.jsonl"
CURVES = "training.png"


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


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(temporary) in path's folder, then rename the result onto path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are private (0600); this one gets the usual permissions.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: _write_text(tmp, text))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def write_spec(run_dir: Path, spec: RunSpec) -> None:
    write_json(run_dir / CONFIG, spec.to_json())


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
