"""A run's network and its weights on disk (safetensors); torch lives here, not in core.

config.json records the SHA-256 of model.safetensors each time either is written, and loading
checks it: a damaged file (a flipped bit) is refused, not read as garbage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ctcocr.core.errors import ModelFileError
from ctcocr.core.run_folder import (
    WEIGHTS,
    RunSpec,
    check_weights_sha256,
    read_spec,
    record_weights_sha256,
    write_atomic,
)
from ctcocr.network.model import Network


def build_network(spec: RunSpec) -> Network:
    return Network(spec.model, spec.preprocess, spec.charset.num_classes)


def save_weights(run_dir: Path, network: torch.nn.Module) -> None:
    """Write model.safetensors and its SHA-256 into config.json (when that exists): the digest
    first as the one coming, then the file, then the digest as current, so that a kill at any
    point leaves weights that config.json accepts."""
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    data = save(state)
    digest = hashlib.sha256(data).hexdigest()
    record_weights_sha256(run_dir, digest, coming=True)
    write_atomic(run_dir / WEIGHTS, lambda tmp: tmp.write_bytes(data))
    record_weights_sha256(run_dir, digest)


def load_network(run_dir: Path, spec: RunSpec | None = None) -> tuple[Network, RunSpec]:
    """Rebuild a run's network from config.json and load its best weights."""
    spec = spec or read_spec(run_dir)
    network = build_network(spec)
    path = run_dir / WEIGHTS
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the weights ({exc.strerror}): retrain") from exc
    check_weights_sha256(run_dir, data)
    try:
        network.load_state_dict(load(data))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ModelFileError(
            f"{path}: weights do not fit the model in config.json ({str(exc).splitlines()[0]}): "
            "the run folder is damaged or mixed with another run; retrain"
        ) from exc
    return network.eval(), spec
