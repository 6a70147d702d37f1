"""Weights on disk (safetensors) and the resume state; torch lives here, not in runs.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import RESUME_STATE, WEIGHTS, RunSpec, read_spec, write_atomic
from ctcocr.network.model import Recognizer as Network


def build_network(spec: RunSpec) -> Network:
    return Network(spec.model, spec.preprocess, spec.charset.num_classes)


def save_weights(run_dir: Path, network: torch.nn.Module) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    write_atomic(run_dir / WEIGHTS, lambda tmp: save_file(state, str(tmp)))


def load_network(run_dir: Path, spec: RunSpec | None = None) -> tuple[Network, RunSpec]:
    """Rebuild a run's network from config.json and load its best weights."""
    spec = spec or read_spec(run_dir)
    network = build_network(spec)
    path = run_dir / WEIGHTS
    try:
        state = load_file(str(path))
        network.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ModelFileError(
            f"{path}: weights do not fit the model in config.json ({str(exc).splitlines()[0]}): "
            "the run folder is damaged or mixed with another run; retrain"
        ) from exc
    return network.eval(), spec


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


class TorchBackend:
    """Runs a run folder's network on batches of preprocessed images; safe to share by threads."""

    def __init__(self, run_dir: Path, spec: RunSpec, device: str = "cpu") -> None:
        network, _ = load_network(run_dir, spec)
        self.device = torch.device(device)
        self.network = network.to(self.device)
        self._lock = threading.Lock()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 -> (B, T, num_classes) float32."""
        with self._lock, torch.inference_mode():
            return self.network(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()
