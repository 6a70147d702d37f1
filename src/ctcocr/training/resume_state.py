"""What `--resume` needs (weights, optimizer, progress), in the run's last.pt; tensors only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import RESUME_STATE, write_atomic


def save_resume_state(run_dir: Path, state: dict[str, Any]) -> None:
    write_atomic(run_dir / RESUME_STATE, lambda tmp: torch.save(state, tmp))


def load_resume_state(run_dir: Path) -> dict[str, Any] | None:
    """The resume state, loaded with torch's restricted (weights-only) unpickler."""
    path = run_dir / RESUME_STATE
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a damaged file
        raise ModelFileError(
            f"{path}: cannot resume from it ({exc}): delete it to start over"
        ) from exc
