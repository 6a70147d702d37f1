"""The CTC all-blank plateau: steps to leave it, with and without the blank-prior bias init.

    python benchmarks/plateau.py                         # cnn and crnn, 150 steps each way
    python benchmarks/plateau.py --models cnn --steps 100 --no-augment
    python benchmarks/plateau.py --models crnn --resize pad      # vs the default stretch

Trains on captcha_images_v2's train.csv for a fixed number of steps (batch 32, learning rate
2e-3 after a 10-step warm-up, augmentation as in `ctcocr train`), once with the classifier
as PyTorch initialises it and once with `model.set_blank_prior`, as `ctcocr train` now does.
Prints the mean loss every 10 steps and the validation accuracy at the end. Counted in steps,
so the result does not depend on how busy the CPU is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig, TrainConfig
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.augment import AugmentConfig
from ctcocr.data.samples import read_samples
from ctcocr.network.model import ctc_loss, set_blank_prior
from ctcocr.training.finetune import blank_share
from ctcocr.training.loaders import TrainingData
from ctcocr.training.loaders import make_loader as _loader
from ctcocr.training.loop import validate
from ctcocr.training.trainer import Trainer

HERE = Path(__file__).resolve().parent


def run(args: argparse.Namespace, model: str, prior: bool) -> tuple[list, float]:
    root, steps, augment = args.data, args.steps, not args.no_augment
    train, val = read_samples(root / "train.csv"), read_samples(root / "val.csv")
    charset = Charset.from_labels(s.label for s in train)
    spec = RunSpec(charset, PreprocessConfig(resize=args.resize), ModelConfig(model))
    config = TrainConfig(batch_size=32, workers=1, seed=0)
    trainer = Trainer(spec, config)
    network = trainer.network
    if prior:
        share = blank_share(TrainingData(val=val, train=train), spec.model.time_steps)
        set_blank_prior(network, share)
    augmentation = AugmentConfig() if augment else None
    curve, losses, step, epoch = [], [], 0, 0
    while step < steps:
        network.train()
        for images, targets, lengths, _ in _loader(
            train, spec, config, True, 1, epoch, augmentation
        ):
            for group in trainer.optimizer.param_groups:
                group["lr"] = 2e-3 * min(1.0, (step + 1) / 10)
            logits = network(images.contiguous(memory_format=torch.channels_last))
            loss = ctc_loss(logits, targets, lengths)
            trainer.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
            trainer.optimizer.step()
            losses.append(loss.item())
            step += 1
            if step % 10 == 0:
                curve.append(sum(losses[-10:]) / 10)
            if step >= steps:
                break
        epoch += 1
    val_loader = _loader(val, spec, config, False, 0)
    _, scores = validate(network, val_loader, spec, torch.device("cpu"))
    return curve, scores.sequence_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = HERE.parent.parent / "shared" / "datasets" / "captcha_images_v2"
    parser.add_argument("--data", type=Path, default=default, help="folder with train/val.csv")
    parser.add_argument("--models", default="cnn,crnn")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--resize", choices=("stretch", "pad"), default="stretch")
    args = parser.parse_args()
    rows = []
    for model in args.models.split(","):
        for prior in (False, True):
            curve, accuracy = run(args, model, prior)
            rows.append((model, prior, curve, accuracy))
            print(model, "prior" if prior else "uniform", [round(x, 2) for x in curve], flush=True)
    augmented = not args.no_augment
    print(
        f"\n{args.data.name}, {args.steps} steps of 32, augmentation {augmented}, {args.resize}\n"
    )
    print("| model | classifier init | loss at steps 10, 20, 40, 80, last | val seq. acc. |")
    print("|---|---|---|---|")
    for model, prior, curve, accuracy in rows:
        marks = [curve[i] for i in (0, 1, 3, 7) if i < len(curve)] + curve[-1:]
        shown = ", ".join(f"{x:.2f}" for x in marks)
        init = "blank prior" if prior else "uniform (PyTorch default)"
        print(f"| {model} | {init} | {shown} | {accuracy:.2%} |")


if __name__ == "__main__":
    main()
