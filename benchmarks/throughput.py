"""Training images/s of the design choices behind the default model, on a CPU or a CUDA GPU.

    python benchmarks/throughput.py                                  # this machine's CPU
    python benchmarks/throughput.py --device cuda --batch 64,256,1024 --steps 50 --compile

One table: cnn and crnn at T = 16 and 32, with contiguous or channels-last memory, in float32
or under bf16 autocast (on CUDA, the same autocast `ctcocr train` uses; --no-amp is float32).
Random input, CTC loss, AdamW; no data loading, so this isolates the network's cost.
Settings are interleaved and each figure is the median of all timed windows (shared machines'
timings are noisy). --compile adds torch.compile'd rows for channels-last bf16.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ctcocr.core.config import ModelConfig, PreprocessConfig
from ctcocr.network.model import Network, count_parameters, ctc_loss


def images_per_second(
    network, batch: int, channels_last: bool, bf16: bool, steps: int, device: torch.device
) -> float:
    network = network.to(device)
    images = torch.randn(batch, 1, 64, 128, device=device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(1, 37, (batch * 5,), device=device)
    lengths = torch.full((batch,), 5, device=device)
    optimizer = torch.optim.AdamW(network.parameters(), 1e-3)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = network(images)
        loss = ctc_loss(logits, targets, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):  # warm-up (cudnn.benchmark and torch.compile choose kernels here)
        step()
    synchronize()
    rates = []
    for _ in range(3):  # median of three windows
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize()
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="cnn,crnn", help="comma-separated")
    parser.add_argument("--steps-t", default="16,32", help="time steps T, comma-separated")
    parser.add_argument("--batch", default="64", help="batch sizes, comma-separated")
    parser.add_argument("--widths", default="", help="convolution widths, e.g. 32,64,128,192")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", action="store_true", help="add torch.compile'd rows")
    args = parser.parse_args()
    device = torch.device(args.device)
    shape = {"widths": tuple(map(int, args.widths.split(",")))} if args.widths else {}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as training sets it
        torch.set_float32_matmul_precision("high")
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}\n")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    settings = [(False, False, False), (True, False, False), (True, True, False)]
    if args.compile:
        settings.append((True, True, True))  # (channels-last, bf16, compiled)
    rates: dict[tuple, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so that a slow spell hits every setting
        for arch, steps_t in [
            (a, int(t)) for a in args.models.split(",") for t in args.steps_t.split(",")
        ]:
            for batch in map(int, args.batch.split(",")):
                for channels_last, bf16, compiled in settings:
                    torch.manual_seed(0)
                    model = ModelConfig(arch, steps_t, **shape)
                    network = Network(model, PreprocessConfig(), 37)
                    params = count_parameters(network)
                    if compiled:
                        network = torch.compile(network)
                    # bf16 on an AVX2 CPU is ~10x slower: keep it short there
                    steps = 2 if bf16 and device.type == "cpu" else args.steps
                    rate = images_per_second(network, batch, channels_last, bf16, steps, device)
                    key = (arch, steps_t, params, batch, channels_last, bf16, compiled)
                    rates.setdefault(key, []).append(rate)
    print("| model | T | parameters | batch | memory | precision | compiled | train img/s |")
    print("|---|---|---|---|---|---|---|---|")
    for (arch, steps_t, params, batch, channels_last, bf16, compiled), found in rates.items():
        memory = "channels-last" if channels_last else "contiguous"
        print(
            f"| {arch} | {steps_t} | {params / 1e6:.2f}M | {batch} | {memory} | "
            f"{'bf16 autocast' if bf16 else 'float32'} | {'yes' if compiled else 'no'} | "
            f"{statistics.median(found):.0f} |"
        )


if __name__ == "__main__":
    main()
