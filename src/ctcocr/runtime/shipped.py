"""The models that ship inside the package, by name: what `Recognizer()` opens when no model is
named, what `Recognizer("captcha")` and `ctcocr predict captcha a.png` open, and what
`ctcocr train DATA --init general` starts from.

    models/general.onnx         reads many CAPTCHA styles (digits, a-z, A-Z, + - × = ?)
    models/general/             its run folder (config.json + model.safetensors), for --init
    models/general-fast.onnx    the same characters and styles, one convolution per stage:
                                faster, less accurate on some real sets (docs/general-model.md)
    models/general-fast/        its run folder, for --init general-fast
    models/captcha.onnx         the `captcha` package's default style only (128x64, 0-9 A-Z)

>>> shipped_path("captcha").name
'captcha.onnx'
"""

from __future__ import annotations

from pathlib import Path

from ctcocr.core.errors import ModelFileError

MODELS = Path(__file__).parents[1] / "models"
SHIPPED = {
    "general": "many CAPTCHA styles, digits + a-z + A-Z + arithmetic signs (the default)",
    "general-fast": "the general model's characters and styles with one convolution per "
    "stage: about 1.4x faster, less accurate on some real CAPTCHAs",
    "captcha": "the captcha package's default style only, digits + A-Z",
}
DEFAULT = "general"


def shipped_path(name: str) -> Path:
    """The ONNX file of the shipped model `name`; ModelFileError if this install lacks it."""
    if name not in SHIPPED:
        raise ModelFileError(f"{name!r}: no such shipped model: use one of {', '.join(SHIPPED)}")
    path = MODELS / f"{name}.onnx"
    if not path.is_file():
        raise ModelFileError(
            f"{path}: the shipped model {name!r} is missing from this install: name a model "
            "(a run folder or .onnx file), or rebuild it (`make general-model`, `make pretrained`)"
        )
    return path


def shipped_run(name: str) -> Path | None:
    """The run folder a shipped model's training left (for `--init NAME`), if it ships one."""
    folder = MODELS / name
    return folder if name in SHIPPED and (folder / "config.json").is_file() else None


def init_run(value: str | Path) -> Path:
    """What `--init` names as a run folder: an existing path, or a shipped model's name."""
    path = Path(value)
    if path.exists():
        return path
    folder = shipped_run(str(value))
    if folder is not None:
        return folder
    shipped = [name for name in SHIPPED if shipped_run(name) is not None]
    named = f", and no shipped model of that name (shipped: {', '.join(shipped)})"
    raise ModelFileError(
        f"--init {value}: no such run folder{named if shipped else ''}: "
        "give the --out folder of a training"
    )


def resolve_model(model: str | Path | None) -> Path:
    """A model argument as a path: None is the default shipped model; a shipped model's name
    (that is not also an existing path) is that model's ONNX file; anything else is a path."""
    if model is None:
        return shipped_path(DEFAULT)
    path = Path(model)
    if not path.exists() and str(model) in SHIPPED:
        return shipped_path(str(model))
    return path
