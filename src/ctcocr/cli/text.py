"""What the commands print: results as lines of text."""

from __future__ import annotations

from typing import Any


def format_confidence(summary: dict[str, Any], min_confidence: float = 0.0) -> list[str]:
    """The confidence part of `ctcocr evaluate`'s report, as lines of text."""
    if summary["temperature"] == 1.0:
        first = (
            f"confidence: expected calibration error {summary['ece_before']:.2%} "
            "(temperature 1: not calibrated, see `ctcocr calibrate`)"
        )
    else:
        first = (
            f"confidence: expected calibration error {summary['ece_before']:.2%} at T = 1, "
            f"{summary['ece_after']:.2%} with the model's T = {summary['temperature']:.3g}"
        )
    lines = [first, "  coverage  accuracy  min. confidence"]
    lines += [
        f"  {row['coverage']:8.0%}  {row['accuracy']:8.2%}  {row['threshold']:.4f}"
        for row in summary["coverage"]
    ]
    if min_confidence > 0:
        lines.append(
            f"rejected {summary['rejected']} below confidence {min_confidence:g}; "
            f"accuracy of the rest {summary['accepted_accuracy']:.2%}"
        )
    return lines


def prediction_line(row: dict[str, Any], answer: bool = False) -> str:
    """One line of `ctcocr predict`, tab-separated: path, text, confidence; with `answer`
    (--answer), then "= 19" or "no answer"; then "rejected" when it is."""
    fields = [row["path"], row["text"], f"{row['confidence']:.3f}"]
    if answer:
        fields.append(f"= {row['answer']}" if row.get("answer") is not None else "no answer")
    if row["rejected"]:
        fields.append("rejected")
    return "\t".join(fields)
