"""What the train and evaluate commands do, as functions the CLI (and scripts) call."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctcocr.core.config import ModelConfig, TrainConfig
from ctcocr.core.config_flags import from_args, given_fields
from ctcocr.core.errors import DataError, ModelFileError
from ctcocr.core.run_folder import CONFIG, CURVES, RESUME_STATE, WEIGHTS, RunSpec
from ctcocr.data.images import PreprocessConfig
from ctcocr.data.synth import SynthConfig
from ctcocr.decoding.decoder import DecodeOptions

if TYPE_CHECKING:
    from ctcocr.data.samples import Sample
    from ctcocr.decoding.greedy import Prediction
    from ctcocr.runtime.recognizer import Recognizer


def train_command(args: argparse.Namespace, synth: SynthConfig | None) -> int:
    from ctcocr.data.packing import is_packed
    from ctcocr.training import prepare
    from ctcocr.training.distributed import context_from_env
    from ctcocr.training.loop import TrainingData, fit, print_line

    say = print_line if context_from_env().is_main else _silent  # torchrun: rank 0 speaks
    config = from_args(TrainConfig, args)
    model = from_args(ModelConfig, args)
    width, height = args.size
    preprocess = PreprocessConfig(width, height, args.channels, args.resize)
    given = args.time_steps is not None
    _check_out(args.out, args.resume)
    init = getattr(args, "init", None)
    if synth is not None:
        if args.data is not None:
            raise DataError(f"give either DATA ({args.data}) or --synthetic, not both")
        if init is not None:
            raise DataError("--init fine-tunes on image files: give DATA, not --synthetic")
        data, spec = prepare.synthetic_data(synth, preprocess, model, config, given)
        summary: dict[str, Any] = {"source": "synthetic", "synth": synth.__dict__}
        prepare.augmentation_for(config, synthetic=True)  # refuses --augment
    elif args.data is None:
        raise DataError("no training data: give a dataset path, or --synthetic")
    elif is_packed(args.data):
        from ctcocr.training.shards import shard_data

        data, spec, summary = shard_data(
            args.data,
            args.val,
            config,
            args.charset,
            preprocess,
            model,
            given,
            args.label_pattern,
            say,
        )
    else:
        train, val, charset = prepare.file_data(
            args.data, args.val, config, args.charset, args.label_pattern, say
        )
        if init is not None:  # the init run's input and network, unless flags say otherwise
            from ctcocr.training.finetune import initial_spec

            start = initial_spec(
                init, RunSpec(charset, preprocess, model), given_fields(ModelConfig, args)
            )
            preprocess, model = start.preprocess, start.model
        spec = prepare.file_spec(train, val, charset, preprocess, model, given)
        augmentation = prepare.augmentation_for(config, synthetic=False)
        data = TrainingData(val=val, train=train, augmentation=augmentation)
        summary = {"source": str(args.data), "train": len(train), "val": len(val)}
        if init is not None:
            summary["init"] = str(init)
    spec = prepare.with_training_record(spec, config, summary, data.augmentation)
    _check_same_run(args.out, spec, args.resume)
    say(
        f"training {spec.model.architecture} (T={spec.model.time_steps}, "
        f"{len(spec.charset.chars)} characters) into {args.out}"
    )
    progress = fit(args.out, spec, data, config, resume=args.resume, init=init)
    say(
        f"best validation sequence accuracy {progress.best_accuracy:.2%} at epoch "
        f"{progress.best_epoch}; model in {args.out}/ ({WEIGHTS}, {CONFIG}), "
        f"curves in {args.out / CURVES}"
    )
    return 0


def _silent(line: str) -> None:
    """The log of torchrun ranks other than 0."""


def _check_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file: give a folder for the run")
    if not resume and (out / CONFIG).exists():
        raise DataError(
            f"{out} already holds a run: pass --resume to continue it, or choose a new --out"
        )


def _check_same_run(out: Path, spec: RunSpec, resume: bool) -> None:
    """A resumed run must be the same model on the same kind of data."""
    if not (resume and (out / RESUME_STATE).exists()):
        return
    stored = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    new = json.loads(json.dumps(spec.to_json()))  # tuples -> lists, as stored
    changed = [k for k in ("charset", "preprocess", "model") if stored.get(k) != new[k]]
    if changed:
        raise ModelFileError(
            f"{out} was trained with another {', '.join(changed)}: resume with the same "
            "flags as the first run, or train into a new --out"
        )


def evaluate_command(
    model: Path,
    data: Path,
    label_pattern: str,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
) -> dict[str, Any]:
    """Score a model on labelled data -> a JSON-ready dict (count, accuracies, errors, and
    how well its confidence predicts a right reading, before and after its temperature).

    Labels and predictions are lower-cased when asked, or when the model was trained so."""
    from ctcocr.data.samples import read_samples
    from ctcocr.runtime.recognizer import Recognizer

    reader = Recognizer(model)
    samples = read_samples(data, label_pattern)
    result, _ = score_samples(reader, samples, data, options, plot, ignore_case)
    return result


def score_samples(
    reader: Recognizer,
    samples: Sequence[Sample],
    data: Path,
    options: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
) -> tuple[dict[str, Any], list[Prediction]]:
    """Read `samples` and score them -> (what `evaluate --json` prints, the predictions)."""
    from ctcocr.data.samples import fold_case
    from ctcocr.evaluation.calibration import confidence_summary, read_twice
    from ctcocr.evaluation.scores import score

    ignore_case = ignore_case or bool(
        reader.spec.training.get("config", {}).get("ignore_case", False)
    )  # a model trained on folded labels is scored on folded labels
    if ignore_case:
        samples = fold_case(samples)
    labels = [s.label for s in samples]
    predictions, raw = read_twice(reader, [s.path for s in samples], options)
    if ignore_case:
        predictions, raw = _lower(predictions), _lower(raw)
    result = score(labels, [p.text for p in predictions]).to_dict()
    result["model"] = str(reader.path)
    result["data"] = str(data)
    result["ignore_case"] = ignore_case
    result["decoding"] = (options or DecodeOptions()).to_dict()
    result["confidence"] = {
        "temperature": reader.spec.temperature,
        **confidence_summary(labels, predictions, raw),
    }
    if plot is not None:
        from ctcocr.evaluation.confidence_plot import plot_confidence

        plot_confidence(labels, predictions, raw, reader.spec.temperature, plot)
    result["errors"] = [
        {"path": str(s.path), "label": s.label, "text": p.text, "confidence": p.confidence}
        for s, p in zip(samples, predictions, strict=True)
        if s.label != p.text
    ]
    return result, predictions


def _lower(predictions: list[Prediction]) -> list[Prediction]:
    from dataclasses import replace

    return [replace(p, text=p.text.lower()) for p in predictions]
