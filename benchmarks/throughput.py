"""Training images/s of the design choices behind the default model, on this machine's CPU.

    python benchmarks/throughput.py

One table: the layout of the CNN's early layers (where the FLOPs go at full resolution),
channels-last memory, and bf16 autocast, each for cnn and crnn. Random input, batch 64,
CTC loss, AdamW; no data loading, so this isolates the network's cost.
"""

from __future__ import annotations

import argparse
import time

import torch

from ctcocr.config import ModelConfig
from ctcocr.images import PreprocessConfig
from ctcocr.model import Recognizer, count_parameters, ctc_loss

LAYOUTS = {
    "default: stride-2 stem, 1 conv per stage (32,64,128,192)": {},
    "2 convs in the last two stages (32,64,128,192)": {"depths": (1, 1, 2, 2)},
    "wider (48,96,160,256)": {"widths": (48, 96, 160, 256)},
}


def images_per_second(network, batch: int, channels_last: bool, bf16: bool, steps: int) -> float:
    images = torch.randn(batch, 1, 64, 128)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(1, 37, (batch * 5,))
    lengths = torch.full((batch,), 5)
    optimizer = torch.optim.AdamW(network.parameters(), 1e-3)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = network(images)
        loss = ctc_loss(logits, targets, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| layout | model | channels-last | bf16 | parameters | train img/s |")
    print("|---|---|---|---|---|---|")
    trials = [(layout, arch, True, False) for layout in LAYOUTS for arch in ("cnn", "crnn")]
    trials += [
        (next(iter(LAYOUTS)), "crnn", False, False),
        (next(iter(LAYOUTS)), "crnn", True, True),
    ]
    for layout, arch, channels_last, bf16 in trials:
        torch.manual_seed(0)
        config = ModelConfig(arch, 16, **LAYOUTS[layout])
        network = Recognizer(config, PreprocessConfig(), num_classes=37)
        rate = images_per_second(network, args.batch, channels_last, bf16, args.steps)
        print(
            f"| {layout} | {arch} | {channels_last} | {bf16} | "
            f"{count_parameters(network) / 1e6:.2f}M | {rate:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
