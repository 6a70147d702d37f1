"""A model's temperature: fitted on labelled data it did not train on, stored in its run folder.

`ctcocr calibrate RUN DATA` and the end of every training come here; the maths is in
`calibration.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ctcocr.core.errors import DataError, ImageError, ModelFileError
from ctcocr.core.run_folder import CONFIG, RunSpec, check_out, write_spec
from ctcocr.data.images import open_readable
from ctcocr.data.samples import check_not_empty, printable, read_samples
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.evaluation.calibration import TemperatureFit, calibrate_logits
from ctcocr.evaluation.evaluate import unreadable_error
from ctcocr.runtime.recognizer import Recognizer


def save_temperature(run_dir: Path, spec: RunSpec, temperature: float) -> RunSpec:
    """Store the temperature in the run's config.json; returns the updated spec."""
    spec = replace(spec, temperature=temperature)
    write_spec(run_dir, spec)
    return spec


def calibrate_run(
    run_dir: Path,
    data: Path,
    label_pattern: str,
    options: DecodeOptions | None = None,
    skip_bad: bool = False,
) -> tuple[TemperatureFit, list[tuple[Path, ImageError]]]:
    """Fit a run's temperature for greedy decoding (or `options`) on labelled data the model
    was not trained on, and store it in the run's config.json -> (the fit, the images left
    out). Unreadable images stop it, all listed, unless `skip_bad` fits on the others."""
    if run_dir.is_file():
        raise ModelFileError(
            f"{run_dir}: calibrate stores the temperature in a run folder's {CONFIG}: give "
            "the run folder, then export it again"
        )
    check_out(run_dir / CONFIG, folder=False, flag="")  # before the images are read
    reader = Recognizer(run_dir)
    samples = read_samples(data, label_pattern)
    check_not_empty(samples)  # an empty reading would count as right
    logits, failed = readable_logits(reader, [s.path for s in samples])
    unreadable = [(samples[i].path, error) for i, error in sorted(failed.items())]
    if unreadable and not skip_bad:
        raise unreadable_error(unreadable, rest="fit on the others")
    if len(unreadable) == len(samples):
        raise DataError(f"{printable(data)}: none of the images could be read: check the data")
    labels = [s.label for i, s in enumerate(samples) if i not in failed]
    fit = calibrate_logits(logits, labels, reader.spec.charset, options)
    save_temperature(run_dir, reader.spec, fit.temperature)
    return fit, unreadable


def readable_logits(
    reader: Recognizer, paths: Sequence[Path], batch_size: int = 64
) -> tuple[np.ndarray, dict[int, ImageError]]:
    """(B, T, C) logits of the images that could be read, in order; {index in paths: its
    ImageError} for the others."""
    chunks, failed = [], {}
    for start in range(0, len(paths), batch_size):
        images, bad = open_readable(paths[start : start + batch_size])
        failed.update({start + i: error for i, error in bad.items()})
        chunks.append(reader.logits(images))
    return (np.concatenate(chunks) if chunks else reader.logits([])), failed
