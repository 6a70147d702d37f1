"""A picture of how far a model's confidence can be trusted (`ctcocr evaluate --plot`).

Left: the reliability diagram, accuracy against confidence in 10 bins, before and after the
temperature (a calibrated model lies on the diagonal). Right: accuracy against coverage, the
accuracy left when the least confident readings are rejected. Matplotlib is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ctcocr.core.run_folder import write_atomic
from ctcocr.decoding.prediction import Prediction
from ctcocr.evaluation.calibration import (
    coverage_curve,
    expected_calibration_error,
    reliability_bins,
)


def plot_confidence(
    labels: Sequence[str],
    calibrated: Sequence[Prediction],
    raw: Sequence[Prediction],
    temperature: float,
    out_path: Path,
) -> Path:
    """Write the two panels to `out_path` (PNG, atomically) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    series = []
    pairs = [("T = 1", raw), (f"T = {temperature:.3g}", calibrated)]
    for name, predictions in pairs if temperature != 1.0 else pairs[:1]:
        confidence = np.array([p.confidence for p in predictions])
        right = np.array([p.text == t for p, t in zip(predictions, labels, strict=True)])
        ece = expected_calibration_error(confidence, right)
        series.append((f"{name} (ECE {ece:.1%})", confidence, right))

    fig, (ax_rel, ax_cov) = plt.subplots(1, 2, figsize=(11, 4.5))
    try:
        ax_rel.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
        for (name, confidence, right), marker in zip(series, "os", strict=False):
            bins = reliability_bins(confidence, right)
            ax_rel.plot([b[0] for b in bins], [b[1] for b in bins], marker=marker, label=name)
            coverage, accuracy = coverage_curve(confidence, right)
            ax_cov.plot(coverage, accuracy, label=name)
        ax_rel.set(title="reliability", xlabel="confidence", ylabel="accuracy", xlim=(0, 1))
        ax_cov.set(title="accuracy against coverage", xlabel="coverage (share kept)",
                   ylabel="accuracy of the kept", xlim=(0, 1))  # fmt: skip
        for ax in (ax_rel, ax_cov):
            ax.set_ylim(0.0, 1.02)
            ax.grid(True, alpha=0.3)
            ax.legend()
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax_cov.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        fig.suptitle(f"{len(labels)} images")
        fig.tight_layout()
        write_atomic(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        return Path(out_path)
    finally:
        plt.close(fig)
