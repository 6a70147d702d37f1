"""`ctcocr evaluate MODEL DATA --report DIR`: where a model fails, as a page and metrics.json.

    DIR/metrics.json  everything `evaluate --json` prints, plus confusions, calibration bins,
                      model size, batch-1 latency, and what the report was made from
    DIR/report.html   one self-contained file (images are base64 data URIs): the scores, accuracy
                      per length, the most confused characters, a reliability diagram, the
                      failures with their truth, reading and confidence, and for the first few
                      the CTC alignment view of `ctcocr explain`

No torch here beyond what the Recognizer loads; matplotlib draws the figures.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctcocr.core.errors import DataError
from ctcocr.core.run_folder import CURVES, WEIGHTS, write_atomic, write_json
from ctcocr.core.version import __version__
from ctcocr.data.samples import DEFAULT_LABEL_PATTERN, Sample, read_samples
from ctcocr.decoding.decoder import DecodeOptions
from ctcocr.decoding.prediction import Prediction
from ctcocr.evaluation.calibration import reliability
from ctcocr.evaluation.confusions import count_confusions
from ctcocr.runtime.recognizer import Recognizer

REPORT_HTML = "report.html"
REPORT_METRICS = "metrics.json"


@dataclass(frozen=True)
class ReportOptions:
    """How much the report shows and measures."""

    gallery: int = 24  # failures shown as pictures (all are listed in metrics.json)
    explain: int = 6  # of those, how many also get the CTC alignment view
    confusions: int = 20  # rows of the confusion table
    bins: int = 10  # reliability diagram bins over [0, 1]
    latency_repeats: int = 30  # single-image predictions timed, after 5 warm-up calls


def model_size(run_dir: Path) -> dict[str, int]:
    """Trainable parameters (stored tensors less batch-norm statistics) and the weights' bytes."""
    from safetensors.numpy import load_file

    path = run_dir / WEIGHTS
    tensors = load_file(str(path))
    parameters = sum(
        t.size
        for name, t in tensors.items()
        if "running_" not in name and "num_batches" not in name
    )
    return {"parameters": int(parameters), "file_bytes": path.stat().st_size}


def batch1_latency_ms(reader: Recognizer, image: Path, repeats: int = 30) -> float:
    """Median wall time of `reader.predict(image)`: decoding the file and CTC decoding included."""
    for _ in range(5):
        reader.predict(image)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        reader.predict(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def report_metrics(
    reader: Recognizer,
    samples: Sequence[Sample],
    data: Path,
    options: ReportOptions,
    decoding: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
    skip_bad: bool = False,
) -> tuple[dict[str, Any], list[Sample], list[Prediction]]:
    """Score `samples` -> (the metrics.json content, the samples scored, their predictions).

    With `skip_bad`, unreadable images are left out (listed in `unreadable`, and in the
    page's warnings) instead of stopping the report."""
    from ctcocr.evaluation.evaluate import score_samples

    result, samples, predictions = score_samples(
        reader, samples, data, decoding, plot, ignore_case, skip_bad
    )
    truths = [s.label for s in samples]
    confusions = count_confusions(zip(truths, (p.text for p in predictions), strict=True))
    edits: Counter[str] = Counter()
    for confusion in confusions:
        edits[confusion.kind] += confusion.count
    correct = [t == p.text for t, p in zip(truths, predictions, strict=True)]
    confidences = [p.confidence for p in predictions]
    spec = reader.spec
    metrics: dict[str, Any] = {
        **result,
        "edits": {k: edits[k] for k in ("substitution", "deletion", "insertion")},
        "confusions": [c.to_dict() for c in confusions[: options.confusions]],
        "calibration": {
            "mean_confidence": sum(confidences) / max(1, len(confidences)),
            "bins": reliability(confidences, correct, options.bins),
        },
        "model_info": {
            "architecture": spec.model.architecture,
            "time_steps": spec.model.time_steps,
            "charset": spec.charset.chars,
            "input": f"{spec.preprocess.width}x{spec.preprocess.height}, "
            f"{spec.preprocess.channels} channel(s), {spec.preprocess.resize}",
            "trained_on": spec.training.get("data", {}),
            "made_by": f"ctcocr {spec.version}",
            **model_size(reader.path),
        },
        "latency_ms": {
            "batch_1": batch1_latency_ms(reader, samples[0].path, options.latency_repeats),
            "device": "cpu",
            "repeats": options.latency_repeats,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ctcocr_version": __version__,
    }
    return metrics, samples, predictions


def write_report(
    model: Path,
    data: Path,
    out: Path,
    label_pattern: str = DEFAULT_LABEL_PATTERN,
    options: ReportOptions | None = None,
    decoding: DecodeOptions | None = None,
    plot: Path | None = None,
    ignore_case: bool = False,
    skip_bad: bool = False,
) -> dict[str, Any]:
    """Evaluate `model` on `data` and write DIR/metrics.json and DIR/report.html; returns the
    metrics. `skip_bad` reports on the readable images, noting the others."""
    from ctcocr.evaluation import report_html

    options = options or ReportOptions()
    try:  # before the evaluation, which takes a while
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"--report {out}: cannot make this folder ({error.strerror})") from None
    reader = Recognizer(model)
    samples = read_samples(data, label_pattern)
    metrics, samples, predictions = report_metrics(
        reader, samples, data, options, decoding, plot, ignore_case, skip_bad
    )
    failures = [(s, p) for s, p in zip(samples, predictions, strict=True) if s.label != p.text][
        : options.gallery
    ]
    curves = reader.path / CURVES
    page = report_html.render(
        metrics,
        report_html.gallery(reader, failures, options.explain),
        curves.read_bytes() if curves.is_file() else None,
    )
    write_json(out / REPORT_METRICS, metrics)
    write_text(out / REPORT_HTML, page)
    return metrics


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""

    def write(temporary: Path) -> None:
        temporary.write_text(text, encoding="utf-8")

    write_atomic(path, write)
