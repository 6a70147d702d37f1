"""Train cnn and crnn on on-the-fly CAPTCHAs, then score each on fresh images from another seed.

    python benchmarks/synthetic.py                       # both models, 15 minutes each
    python benchmarks/synthetic.py --models crnn --minutes 5

Prints a markdown table: sequence and character accuracy on the test set, training images/s,
minutes, parameters, and batch-1 CPU latency (median of single-image `predict` calls, decoding
from a PNG file included). Runs go to benchmarks/runs/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_SEED = 987_654_321


def ctcocr(*args: str, capture: bool = True) -> str:
    """Run the ctcocr command as a user would; return its stdout if captured."""
    command = [sys.executable, "-m", "ctcocr", *args]
    print("$ ctcocr " + " ".join(args), flush=True)
    output = subprocess.PIPE if capture else None
    return subprocess.run(command, check=True, stdout=output, text=True).stdout or ""


def latency_ms(run: Path, image: Path, repeats: int = 300) -> float:
    from ctcocr import Recognizer

    reader = Recognizer(run)
    for _ in range(20):
        reader.predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        reader.predict(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def parameters(run: Path) -> int:
    """Trainable parameters: every stored tensor except batch-norm statistics."""
    from safetensors.torch import load_file

    weights = load_file(str(run / "model.safetensors"))
    return sum(
        t.numel() for k, t in weights.items() if "running_" not in k and "num_batches" not in k
    )


def folded_accuracy(result: dict, count: int) -> float:
    """Sequence accuracy when 0 and O count as the same character.

    ImageCaptcha crops each glyph to its bounding box and stretches it back to the font's
    cell, so DroidSansMono's narrow 0 and round O become near-identical ellipses.
    """
    fold = str.maketrans("O", "0")
    still_wrong = sum(
        e["label"].translate(fold) != e["text"].translate(fold) for e in result["errors"]
    )
    return 1 - still_wrong / count


def confusions(result: dict, top: int = 5) -> str:
    from difflib import SequenceMatcher

    pairs: Counter[str] = Counter()
    for error in result["errors"]:
        matcher = SequenceMatcher(None, error["label"], error["text"])
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op != "equal":
                pairs[f"{error['label'][i1:i2] or '-'}->{error['text'][j1:j2] or '-'}"] += 1
    return ", ".join(f"{pair} x{n}" for pair, n in pairs.most_common(top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn,crnn")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--test-count", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=HERE / "runs" / "synthetic")
    parser.add_argument("--extra", default="", help="more train flags, e.g. '--lr 0.003'")
    args = parser.parse_args()

    test = args.out / "test"
    if not (test / "labels.csv").exists():
        ctcocr("synth", str(test), "--count", str(args.test_count), "--seed", str(TEST_SEED))
    rows = []
    for model in args.models.split(","):
        run = args.out / model
        if run.exists():
            shutil.rmtree(run)
        started = time.monotonic()
        ctcocr(
            "train",
            "--synthetic",
            "--model",
            model,
            "--max-minutes",
            str(args.minutes),
            "--out",
            str(run),
            *args.extra.split(),
            capture=False,
        )
        wall = (time.monotonic() - started) / 60
        result = json.loads(ctcocr("evaluate", str(run), str(test), "--json"))
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        rows.append(
            {
                "model": model,
                "sequence_accuracy": result["sequence_accuracy"],
                "character_accuracy": result["character_accuracy"],
                "images_per_s": statistics.mean(m["images_per_s"] for m in metrics),
                "train_minutes": metrics[-1]["elapsed_s"] / 60,
                "wall_minutes": wall,
                "folded_accuracy": folded_accuracy(result, result["count"]),
                "confusions": confusions(result),
                "parameters": parameters(run),
                "latency_ms": latency_ms(run, next((test / "images").iterdir())),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\nsynthetic CAPTCHAs 128x64, length 4-6, digits + upper case; "
        f"test: {args.test_count} images, seed {TEST_SEED}\n"
    )
    header = (
        "model | sequence acc. | seq. acc., 0=O | character acc. | train img/s | minutes "
        "| parameters | latency"
    )
    print(f"| {header} |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['sequence_accuracy']:.2%} | {r['folded_accuracy']:.2%} | "
            f"{r['character_accuracy']:.2%} | "
            f"{r['images_per_s']:.0f} | {r['train_minutes']:.1f} | {r['parameters'] / 1e6:.2f}M | "
            f"{r['latency_ms']:.2f} ms |"
        )

    print("\nmost frequent errors (truth->read):")
    for r in rows:
        print(f"  {r['model']}: {r['confusions']}")


if __name__ == "__main__":
    main()
