"""Read with a run folder's PyTorch network: the backend `Recognizer` opens for a run folder.

Imported only when a run folder is opened, so that `runtime` needs no torch for ONNX files.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from ctcocr.core.run_folder import RunSpec
from ctcocr.network.weights import load_network


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
