"""What `ctcocr train` does, as a function the CLI (and scripts) call: data, checks, the loop."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ctcocr.core.charset import Charset, same_kinds
from ctcocr.core.config import FEW_SHOT_AUGMENT, ModelConfig, PreprocessConfig, TrainConfig
from ctcocr.core.config_flags import from_args, given_fields
from ctcocr.core.errors import ConfigError, DataError, ModelFileError
from ctcocr.core.run_folder import (
    CONFIG,
    CURVES,
    RESUME_STATE,
    WEIGHTS,
    RunSpec,
    check_out,
    read_spec,
)
from ctcocr.data.packing import is_packed
from ctcocr.data.samples import compile_label_pattern
from ctcocr.data.styles import style_named
from ctcocr.data.synth import SynthConfig
from ctcocr.data.task_styles import check_task_input
from ctcocr.runtime.shipped import init_run, shipped_run
from ctcocr.training import prepare
from ctcocr.training.distill import teacher_run
from ctcocr.training.distributed import context_from_env
from ctcocr.training.loaders import TrainingData
from ctcocr.training.loop import fit
from ctcocr.training.outputs import Log, print_line, silent

# Plain `ctcocr train DATA` starts from the shipped general model when it fits the data.
AUTO_INIT = True
Prepared = tuple[TrainingData, RunSpec, dict[str, Any]]  # data, spec, summary for config.json


def train_command(args: argparse.Namespace, synth: SynthConfig | None) -> int:
    say = print_line if context_from_env().is_main else silent  # torchrun: rank 0 speaks
    config = from_args(TrainConfig, args)
    _check_out(args)
    data, spec, summary = _training_data(args, synth, config, say)
    spec = prepare.with_training_record(spec, config, summary, data.augmentation)
    _check_same_run(args.out, spec, args.resume)
    if config.teacher is not None:  # checked before the data loaders start
        say(
            f"distilling from {teacher_run(config.teacher, spec)} (--teacher): the training "
            "loss shown adds the distillation term; validation loss is CTC's alone"
        )
    say(
        f"training {spec.model.architecture} (T={spec.model.time_steps}, "
        f"{len(spec.charset.chars)} characters) into {args.out}"
    )
    init = Path(summary["init"]) if "init" in summary else None
    progress = fit(args.out, spec, data, config, resume=args.resume, init=init)
    kept = (
        f"best validation sequence accuracy {progress.best_accuracy:.2%} at epoch "
        f"{progress.best_epoch}"
        if data.validates
        else f"no images held out: kept the last epoch, {progress.best_epoch}"
    )
    say(f"{kept}; model in {args.out}/ ({WEIGHTS}, {CONFIG}), curves in {args.out / CURVES}")
    if (hint := length_hint(data, args.out)) is not None:
        say(hint)
    return 0


def length_hint(data: TrainingData, out: Path) -> str | None:
    """A line for the end of a training whose labels all have one length: the decoding
    constraint that keeps readings to it (not applied unasked: other images may differ)."""
    if data.train is None or not isinstance(data.val, list):
        return None
    lengths = {len(sample.label) for sample in [*data.train, *data.val]}
    if len(lengths) != 1:
        return None
    (length,) = lengths
    return (
        f"every label has {length} characters: `ctcocr predict {out} IMAGE --length {length}` "
        "(also evaluate, serve ?length=) reads only texts of that length (docs/decoding.md)"
    )


def _init(args: argparse.Namespace) -> Path | None:
    """--init as a run folder: a path, or the name of a model shipped with its run folder."""
    value = getattr(args, "init", None)
    return None if value is None else init_run(value)


def _start_from(args: argparse.Namespace, charset: Charset, say: Log) -> Path | None:
    """The run whose weights start this one: --init, else the shipped general model when it
    can read every character of the data and no network flag asks for another network
    (AUTO_INIT; measured in docs/general-model.md), else none (--no-init: always none)."""
    given = _init(args)
    if given is not None and getattr(args, "no_init", False):
        raise ConfigError(f"--init {args.init} and --no-init: give one of them")
    if given is not None or getattr(args, "no_init", False) or not AUTO_INIT:
        return given
    general = shipped_run("general")
    if general is None:
        say("training from scratch: this install has no shipped general model to start from")
        return None
    outside = sorted(set(charset.chars) - set(read_spec(general).charset.chars))
    shaped = sorted(given_fields(ModelConfig, args))
    shaped += ["size"] if args.size is not None else []
    shaped += ["channels"] if args.channels is not None else []
    if outside or shaped:
        if outside:
            why = f"its charset lacks {''.join(outside)!r}"
        else:
            why = "--" + {"architecture": "model"}.get(shaped[0], shaped[0]).replace("_", "-")
            why += " given"
        say(f"training from scratch: the shipped general model does not fit ({why})")
        return None
    say(f"starting from the shipped general model ({general}); --no-init trains from scratch")
    return general


def _with_same_kinds(charset: Charset, labels: list[str], init: Path, say: Log) -> Charset:
    """The data's characters plus those of the same kinds that the --init run reads, when the
    labels are too few to have shown each of their kinds in full (core/charset.same_kinds): 25
    labels of an upper-case alphabet need not show every letter, and a letter they never
    showed should stay readable, not become impossible (its classifier row is kept)."""
    added = same_kinds(Counter("".join(labels)), read_spec(init).charset.chars)
    if not added:
        return charset
    say(
        f"charset: the data's {len(charset.chars)} characters and {len(added)} more of their "
        f"kinds that the starting model reads ({added}), as the labels are too few to show "
        "every one; --charset sets it exactly"
    )
    return Charset("".join(sorted(charset.chars + added)))


# Flags that act on a list of image files, and that streamed shards cannot honour.
FILES_ONLY = (
    "augment",
    "augment_strength",
    "repeat_rare",
    "min_epoch_images",
    "ignore_case",
    "rehearse",
)


def _refuse_for_shards(args: argparse.Namespace) -> None:
    """Packed shards stream their images as packed: a flag for image files is an error, not a
    flag dropped in silence."""
    given = [name for name in FILES_ONLY if getattr(args, name, None) is not None]
    given += ["init"] if _init(args) is not None else []
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(
            f"{args.data} holds packed shards: {flags} apply to image files only: drop "
            f"{'it' if len(given) == 1 else 'them'}, or train on the image files"
        )


def _input_given(args: argparse.Namespace) -> dict[str, int]:
    """The input size, if --size was given (else PreprocessConfig's default, or --init's)."""
    return {} if args.size is None else {"width": args.size[0], "height": args.size[1]}


def _training_data(
    args: argparse.Namespace, synth: SynthConfig | None, config: TrainConfig, say: Log
) -> Prepared:
    """What the flags point at, checked -> (data, spec, summary)."""
    model = from_args(ModelConfig, args)
    preprocess = from_args(PreprocessConfig, args, **_input_given(args))
    given = args.time_steps is not None
    if synth is not None:
        if args.data is not None:
            raise DataError(f"give either DATA ({args.data}) or --synthetic, not both")
        prepare.augmentation_for(config, synthetic=True)  # refuses --augment
        if config.rehearse:
            raise ConfigError(
                f"--rehearse {config.rehearse:g} mixes synthetic CAPTCHAs into image files; "
                "with --synthetic every image is synthetic already: drop --rehearse"
            )
        init = _init(args)
        if init is not None:  # a synthetic style learnt from a trained run (or a smaller net)
            start = _initial(args, init, RunSpec(Charset(synth.charset), preprocess, model))
            preprocess, model = start.preprocess, start.model
        check_task_input(style_named(synth.style), preprocess)  # gif, keep-color need flags
        data, spec = prepare.synthetic_data(synth, preprocess, model, config, given)
        summary: dict[str, Any] = {"source": "synthetic", "synth": synth.__dict__}
        if init is not None:
            summary["init"] = str(init)
        return data, spec, {**summary, "fingerprint": {"synth": synth.__dict__}}
    if args.data is None:
        raise DataError("no training data: give a dataset path, or --synthetic")
    compile_label_pattern(args.label_pattern)  # a bad pattern fails now, whatever the data
    if is_packed(args.data):
        _refuse_for_shards(args)
        return prepare.shard_data(
            args.data, args.val, config, args.charset, preprocess, model, given,
            args.label_pattern, say,
        )  # fmt: skip
    return _file_data(args, config, preprocess, model, given, say)


def _file_data(
    args: argparse.Namespace,
    config: TrainConfig,
    preprocess: PreprocessConfig,
    model: ModelConfig,
    given: bool,
    say: Log,
) -> Prepared:
    """Image files: checked, split, and (with --init) the init run's input and network unless
    flags say otherwise."""
    train, val, charset = prepare.file_data(
        args.data, args.val, config, args.charset, args.label_pattern, say
    )
    init = _start_from(args, charset, say)
    if init is not None:
        if args.charset is None:
            labels = [sample.label for sample in [*train, *val]]
            charset = _with_same_kinds(charset, labels, init, say)
        start = _initial(args, init, RunSpec(charset, preprocess, model))
        preprocess, model = start.preprocess, start.model
    if args.val is None:
        train, val = prepare.held_out(train, config, fine_tuning=init is not None, log=say)
    if not val and config.patience:
        raise ConfigError(
            f"--patience {config.patience} stops when validation stops improving, and no "
            "image is held out for it: give --val DATA or --val-fraction 0.1, or drop --patience"
        )
    spec = prepare.file_spec(train, val, charset, preprocess, model, given)
    few_shot = prepare.few_shot(train, fine_tuning=init is not None)
    augmentation = prepare.augmentation_for(config, synthetic=False, few_shot=few_shot)
    if few_shot and augmentation is not None and config.augment_strength is None:
        say(
            f"augmentation: {FEW_SHOT_AUGMENT:g} times the usual strength, for fine-tuning on "
            f"{len(train)} images; --augment-strength sets it"
        )
    rehearsal, share = prepare.rehearsal_for(config, spec, train, val, init is not None, say)
    data = TrainingData(val, train, augmentation=augmentation, rehearsal=rehearsal, rehearse=share)
    summary: dict[str, Any] = {"source": str(args.data), "train": len(train), "val": len(val)}
    if rehearsal is not None:
        summary["rehearsal"] = {"share": share, "synth": asdict(rehearsal)}
    summary["fingerprint"] = {
        "train": prepare.file_fingerprint(train, args.data),
        "val": prepare.file_fingerprint(val, args.val or args.data),
    }
    if init is not None:
        summary["init"] = str(init)
    return data, spec, summary


def _initial(args: argparse.Namespace, init: Path, spec: RunSpec) -> RunSpec:
    """`spec` with the --init run's network and input, except what flags gave."""
    from ctcocr.training.finetune import initial_spec

    return initial_spec(
        init,
        spec,
        given_fields(ModelConfig, args),
        {**given_fields(PreprocessConfig, args), **_input_given(args)},
    )


def _check_out(args: argparse.Namespace) -> None:
    """Before the data is read: --out can be written, lies outside the data, and is new
    unless --resume."""
    out = args.out
    check_out(out, folder=True, data=[p for p in (args.data, args.val) if p is not None])
    if not args.resume and (out / CONFIG).exists():
        raise DataError(
            f"{out} already holds a run: pass --resume to continue it, or choose a new --out"
        )


def _check_same_run(out: Path, spec: RunSpec, resume: bool) -> None:
    """A resumed run must be the same model on the same data."""
    if not (resume and (out / RESUME_STATE).exists()):
        return
    if not (out / CONFIG).is_file():
        raise ModelFileError(
            f"{out} holds {RESUME_STATE} but no {CONFIG}, so what it was trained with is "
            f"unknown: restore {CONFIG}, or train into a new --out"
        )
    try:
        stored = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{out / CONFIG}: not valid JSON ({exc}): restore it, or train into a new --out"
        ) from None
    if not isinstance(stored, dict):
        raise ModelFileError(f"{out / CONFIG}: not a ctcocr config: train into a new --out")
    if isinstance(stored.get("preprocess"), dict):  # fields added since it began: defaults
        stored["preprocess"] = {**asdict(PreprocessConfig()), **stored["preprocess"]}
    new = json.loads(json.dumps(spec.to_json()))  # tuples -> lists, as stored
    changed = [k for k in ("charset", "preprocess", "model") if stored.get(k) != new[k]]
    if changed:
        raise ModelFileError(
            f"{out} was trained with another {', '.join(changed)}: resume with the same "
            "flags as the first run, or train into a new --out"
        )
    before, now = stored.get("training", {}).get("data", {}), new["training"]["data"]
    differences = prepare.data_changes(before.get("fingerprint"), now["fingerprint"])
    if differences:
        raise DataError(
            f"{out} was trained on other data ({'; '.join(differences)}; first run: "
            f"{before.get('source')}, now: {now.get('source')}): resume with the same data "
            "and the same --val, --seed and --val-fraction, or train into a new --out"
        )
