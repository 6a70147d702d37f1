"""A model's temperature: fitted on labelled data it did not train on, stored in its run folder.

`ctcocr calibrate RUN DATA` and the end of every training come here; the maths is in
`calibration.py`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ctcocr.core.run_folder import RunSpec, write_spec
from ctcocr.data.samples import read_samples
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.evaluation.calibration import TemperatureFit, calibrate_logits
from ctcocr.runtime.recognizer import Recognizer


def save_temperature(run_dir: Path, spec: RunSpec, temperature: float) -> RunSpec:
    """Store the temperature in the run's config.json; returns the updated spec."""
    spec = replace(spec, temperature=temperature)
    write_spec(run_dir, spec)
    return spec


def calibrate_run(
    run_dir: Path, data: Path, label_pattern: str, options: DecodeOptions | None = None
) -> TemperatureFit:
    """Fit a run's temperature for greedy decoding (or `options`) on labelled data the model
    was not trained on, and store it in the run's config.json."""
    reader = Recognizer(run_dir)
    samples = read_samples(data, label_pattern)
    paths = [s.path for s in samples]
    logits = np.concatenate([reader.logits(paths[i : i + 64]) for i in range(0, len(paths), 64)])
    fit = calibrate_logits(logits, [s.label for s in samples], reader.spec.charset, options)
    save_temperature(run_dir, reader.spec, fit.temperature)
    return fit
