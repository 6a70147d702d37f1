"""A run's network and its weights on disk (safetensors); torch lives here, not in core."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import WEIGHTS, RunSpec, read_spec, write_atomic
from ctcocr.network.model import Network


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
