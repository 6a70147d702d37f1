"""Zero-shot reading, peers in the same run: no training on the set being read.

    python benchmarks/zeroshot.py                       # shipped models, ddddocr, captcha-whisperer
    python benchmarks/zeroshot.py --model mine=runs/x    # add a run folder or .onnx (repeatable)
    python benchmarks/zeroshot.py --style-count 200      # fresh images of every synthesis style

Every reader sees the same test images: each shared set's test.csv (../shared/datasets, read
only) and `--style-count` fresh images of every style `mix` draws from, and of `mix` itself (seed
777, never trained on; texts of 3-8 characters as the general model was trained, `--style-length`).
Scores: sequence accuracy exact and case-insensitive (ddddocr answers in lower case and
captcha-whisperer in upper case, so their exact column is low by design on mixed-case sets).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

from peers import available_peers

from ctcocr.core.config_flags import parse_range
from ctcocr.data.samples import read_samples

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = ("captcha_images_v2", "really_simple_captcha", "henan_univ_digits", "cn_plates_lprnet")
Reader = Callable[[bytes], str]
Case = tuple[list[bytes], list[str]]  # encoded images, labels


def shipped_readers(notes: list[str]) -> dict[str, Reader]:
    """A reader per model shipped in the package (a note for each one this install lacks)."""
    from ctcocr.core.errors import ModelFileError
    from ctcocr.runtime.shipped import SHIPPED, shipped_path

    found = {}
    for name in SHIPPED:
        try:
            found[f"ctcocr {name}"] = ctcocr_reader(shipped_path(name))
        except ModelFileError as exc:
            notes.append(str(exc))
    return found


def ctcocr_reader(model: Path) -> Reader:
    from ctcocr import Recognizer

    reader = Recognizer(model, threads=1)
    return lambda data: reader.predict(data).text


def dataset_cases(root: Path, sets: list[str]) -> dict[str, Case]:
    cases = {}
    for name in sets:
        test = root / name / "test.csv"
        if not test.is_file():
            print(f"{test}: not found, set skipped", file=sys.stderr)
            continue
        samples = read_samples(test)
        cases[name] = ([s.path.read_bytes() for s in samples], [s.label for s in samples])
    return cases


def style_cases(count: int, seed: int, lengths: tuple[int, int]) -> dict[str, Case]:
    from ctcocr.data.styles import mix_components
    from ctcocr.data.synth import CaptchaSynth, SynthConfig

    cases = {}
    for name in [style.name for style in mix_components()] + ["mix"]:
        synth = CaptchaSynth(
            SynthConfig(style=name, min_length=lengths[0], max_length=lengths[1]), seed
        )
        images, labels = [], []
        for index in range(count):
            image, label = synth.sample(index)
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            images.append(buffer.getvalue())
            labels.append(label)
        cases[f"style {name}"] = (images, labels)
    return cases


def score(reader: Reader, case: Case) -> tuple[float, float]:
    """(exact, case-insensitive) sequence accuracy."""
    images, labels = case
    texts = [reader(image) for image in images]
    exact = sum(t == label for t, label in zip(texts, labels, strict=True))
    folded = sum(t.lower() == label.lower() for t, label in zip(texts, labels, strict=True))
    return exact / len(labels), folded / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH, repeatable")
    parser.add_argument("--style-count", type=int, default=100, help="0: no style rows")
    parser.add_argument("--style-seed", type=int, default=777)
    parser.add_argument("--style-length", type=parse_range, default=(3, 8), help="A-B")
    parser.add_argument("--no-peers", action="store_true", help="leave out ddddocr and co.")
    parser.add_argument("--no-shipped", action="store_true", help="only the --model readers")
    args = parser.parse_args()
    notes: list[str] = []
    readers = {} if args.no_shipped else shipped_readers(notes)
    for item in args.model:
        name, _, path = item.partition("=")
        readers[name] = ctcocr_reader(Path(path))
    if not args.no_peers:
        peers, missing = available_peers()
        readers.update(peers)
        notes += missing
    cases = dataset_cases(args.datasets, [s for s in args.sets.split(",") if s])
    if args.style_count:
        cases.update(style_cases(args.style_count, args.style_seed, args.style_length))
    names = list(readers)
    print("| test set | images | " + " | ".join(f"{n} exact / any case" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for case_name, case in cases.items():
        cells = []
        for name in names:
            started = time.perf_counter()
            exact, folded = score(readers[name], case)
            print(
                f"  {name} on {case_name}: {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
            cells.append(f"{exact:.1%} / {folded:.1%}")
        print(f"| {case_name} | {len(case[1])} | " + " | ".join(cells) + " |", flush=True)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
