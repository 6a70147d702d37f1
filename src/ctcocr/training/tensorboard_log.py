"""TensorBoard scalars for a training run (`--tensorboard`), beside metrics.jsonl.

    tensorboard --logdir RUN/tensorboard

The same per-epoch record that metrics.jsonl gets, against the optimizer step. Optional: the
`tensorboard` package is only needed when the flag is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctcocr.core.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "sequence_accuracy": "validation/sequence_accuracy",
    "character_accuracy": "validation/character_accuracy",
    "lr": "learning_rate",
    "images_per_s": "throughput/train_images_per_s",
}


class ScalarLog:
    """Writes epoch records as TensorBoard scalars into RUN/tensorboard/."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package, which is not installed: "
                "pip install tensorboard, or train without --tensorboard"
            ) from None
        self.writer = SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR))

    def write(self, record: dict[str, Any]) -> None:
        for key, tag in TAGS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], global_step=record["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
