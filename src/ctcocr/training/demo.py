"""`ctcocr demo`: the whole path in a few minutes, on built-in defaults.

Writes a synthetic test set, trains a CRNN on CAPTCHAs drawn on the fly, evaluates it on the
test set, and draws test images with truth and prediction under each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import DataError
from ctcocr.core.run_folder import check_out
from ctcocr.data.images import load_image
from ctcocr.data.samples import read_samples
from ctcocr.data.synth import SynthConfig, write_dataset
from ctcocr.evaluation.scores import evaluate_samples
from ctcocr.runtime.recognizer import Recognizer

TEST_SEED = 20_261_125  # far from the training stream's seeds
DEMO_OUTPUTS = frozenset({"test", "run", "predictions.png"})


def check_demo_out(out: Path) -> None:
    """Before any work: `out` can be written, and holds nothing but an earlier demo's outputs
    (the demo empties it first: `--out .` must not delete someone's files)."""
    check_out(out, folder=True)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in DEMO_OUTPUTS)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise DataError(
                f"--out {out} holds files the demo did not write ({shown}), and the demo "
                "empties its folder first: give a new folder, or an earlier demo's"
            )


def run_demo(out: Path, minutes: float, test_count: int = 500) -> None:
    from ctcocr.core.config import ModelConfig, PreprocessConfig
    from ctcocr.evaluation.gallery import prediction_grid
    from ctcocr.training import prepare
    from ctcocr.training.loop import fit

    check_demo_out(out)
    if out.exists():
        shutil.rmtree(out)  # the demo owns this folder; a rerun starts clean
    synth = SynthConfig()
    test_dir = out / "test"
    print(f"1/4 writing {test_count} test CAPTCHAs to {test_dir}")
    write_dataset(test_dir, test_count, synth, seed=TEST_SEED)

    print(f"2/4 training a CRNN for {minutes:g} minutes on CAPTCHAs drawn on the fly")
    config = TrainConfig(max_minutes=minutes)
    data, spec = prepare.synthetic_data(synth, PreprocessConfig(), ModelConfig(), config, False)
    run_dir = out / "run"
    fit(run_dir, prepare.with_training_record(spec, config, {"source": "synthetic"}), data, config)

    print(f"3/4 reading the {test_count} test images")
    reader = Recognizer(run_dir)
    samples = read_samples(test_dir)
    scores, predictions = evaluate_samples(reader, samples)
    truths = [s.label for s in samples]
    print(f"    sequence accuracy  {scores.sequence_accuracy:.1%}")
    print(f"    character accuracy {scores.character_accuracy:.1%}")
    for sample, prediction in list(zip(samples, predictions, strict=True))[:5]:
        mark = "ok " if prediction.text == sample.label else "ERR"
        print(
            f"    {mark} {sample.path.name}: read {prediction.text!r} (truth {sample.label!r}, "
            f"confidence {prediction.confidence:.2f})"
        )

    picture = out / "predictions.png"
    shown = list(range(16))
    prediction_grid(
        [load_image(samples[i].path) for i in shown],
        [truths[i] for i in shown],
        [predictions[i].text for i in shown],
        picture,
        confidences=[predictions[i].confidence for i in shown],
    )
    print("4/4 done. Outputs:")
    print(f"    {run_dir}/  the trained model (model.safetensors + config.json)")
    print(f"    {run_dir / 'training.png'}  training curves")
    print(f"    {picture}  test images with truth and prediction")
    print(f"    try: ctcocr predict {run_dir} {samples[0].path}")
