"""Training images/s of the design choices behind the default model, on this machine's CPU.

    python benchmarks/throughput.py

One table: cnn and crnn at T = 16 and 32, with contiguous or channels-last memory, in float32
or under bf16 autocast. Random input, batch 64, CTC loss, AdamW; no data loading, so this
isolates the network's cost. Settings are interleaved and each figure is the median of all
timed windows (this machine's timings are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ctcocr.config import ModelConfig
from ctcocr.images import PreprocessConfig
from ctcocr.model import Recognizer, count_parameters, ctc_loss


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
    rates = []
    for _ in range(3):  # median of three windows: this machine's timings are noisy
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    settings = [(False, False), (True, False), (True, True)]  # (channels-last, bf16)
    rates: dict[tuple, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so that a slow spell hits every setting
        for arch, steps_t in [(a, t) for a in ("cnn", "crnn") for t in (16, 32)]:
            for channels_last, bf16 in settings:
                torch.manual_seed(0)
                network = Recognizer(ModelConfig(arch, steps_t), PreprocessConfig(), 37)
                steps = 2 if bf16 else args.steps  # bf16 is ~10x slower here: keep it short
                rate = images_per_second(network, args.batch, channels_last, bf16, steps)
                key = (arch, steps_t, count_parameters(network), channels_last, bf16)
                rates.setdefault(key, []).append(rate)
    print("| model | T | parameters | memory | precision | train img/s |")
    print("|---|---|---|---|---|---|")
    for (arch, steps_t, params, channels_last, bf16), found in rates.items():
        memory = "channels-last" if channels_last else "contiguous"
        print(
            f"| {arch} | {steps_t} | {params / 1e6:.2f}M | {memory} | "
            f"{'bf16 autocast' if bf16 else 'float32'} | {statistics.median(found):.0f} |"
        )


if __name__ == "__main__":
    main()
