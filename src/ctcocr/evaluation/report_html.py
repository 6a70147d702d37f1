"""The evaluation report as one self-contained HTML page: inline CSS, images as data URIs.

Every section has an id (summary, per-length, confusions, calibration, failures, model) so that
tests and readers can find it; nothing is fetched from anywhere when the page opens.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from ctcocr.data.images import load_image
from ctcocr.data.samples import Sample
from ctcocr.decoding.prediction import Prediction
from ctcocr.runtime.recognizer import Recognizer

THUMBNAIL_WIDTH = 256
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; } code, .mono { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.big { font-size: 2em; font-weight: bold; } .cards { display: flex; gap: 2em; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.bar { background: #4c78a8; height: 0.8em; display: inline-block; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 1em; }
.item { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em; }
.item { min-width: 0; } .item > img { width: 100%; image-rendering: pixelated; }
.bad { color: #c00; } .sub.mono { overflow-wrap: anywhere; font-size: 0.85em; }
img { max-width: 100%; } details { margin: 0.6em 0; } summary { cursor: pointer; }
"""


@dataclass(frozen=True)
class GalleryItem:
    """One failure as the report shows it; `alignment` is the explain view's PNG, if drawn."""

    path: str
    label: str
    text: str
    confidence: float
    thumbnail: bytes
    alignment: bytes | None = None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail(path: Any) -> bytes:
    image = load_image(path).convert("RGB")
    if image.width > THUMBNAIL_WIDTH:
        height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
        image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    return png_bytes(image)


def gallery(
    reader: Recognizer, failures: Sequence[tuple[Sample, Prediction]], explain: int
) -> list[GalleryItem]:
    """The failures as gallery items; the first `explain` also get the CTC alignment view."""
    from ctcocr.evaluation.explain import explain as explain_image
    from ctcocr.evaluation.explain import explanation_png

    items = []
    for number, (sample, prediction) in enumerate(failures):
        alignment = None
        if number < explain:
            alignment = explanation_png(explain_image(reader, sample.path), sample.label, dpi=80)
        items.append(
            GalleryItem(
                str(sample.path), sample.label, prediction.text, prediction.confidence,
                thumbnail(sample.path), alignment,
            )
        )  # fmt: skip
    return items


def reliability_png(
    bins: Sequence[dict[str, Any]], mean_confidence: float, accuracy: float
) -> bytes:
    """A reliability diagram: accuracy against mean confidence per bin, and the bin counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ax, ax_count) = plt.subplots(
        2, 1, figsize=(5.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        width = bins[0]["high"] - bins[0]["low"]
        lows = [b["low"] for b in bins]
        accuracies = [b["accuracy"] or 0.0 for b in bins]
        ax.bar(lows, accuracies, width=width, align="edge", edgecolor="#333", color="#4c78a8",
               label="accuracy in bin")  # fmt: skip
        ax.plot([0, 1], [0, 1], "--", color="#c00", label="calibrated")
        filled = [b for b in bins if b["count"]]
        ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o",
                color="#f58518", label="mean confidence in bin")  # fmt: skip
        ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="sequence accuracy")
        ax.set_title(f"mean confidence {mean_confidence:.1%}, accuracy {accuracy:.1%}")
        ax.legend(loc="upper left", fontsize=8)
        ax_count.bar(lows, [b["count"] for b in bins], width=width, align="edge", color="#999")
        ax_count.set(xlabel="confidence (best-path probability)", ylabel="images")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{escape(alt)}">'


def _summary(m: dict[str, Any]) -> str:
    cards = [
        ("sequence accuracy", f"{m['sequence_accuracy']:.2%}"),
        ("character accuracy", f"{m['character_accuracy']:.2%}"),
        ("images", f"{m['count']}"),
        ("misread", f"{len(m['errors'])}"),
    ]
    body = "".join(
        f'<div class="card"><div class="sub">{k}</div><div class="big">{v}</div></div>'
        for k, v in cards
    )
    # What evaluate warns about on stderr (images left out, labels it cannot read) belongs on
    # the page too, or its figures silently cover fewer images than the data holds.
    notes = "".join(f"<p class=sub>warning: {escape(w)}</p>" for w in m.get("warnings", []))
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{body}</div>{notes}</section>'


def _per_length(m: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class=num>{n}</td><td class=num>{r['count']}</td>"
        f"<td class=num>{r['sequence_accuracy']:.2%}</td>"
        f'<td><span class="bar" style="width:{200 * r["sequence_accuracy"]:.0f}px"></span>'
        "</td></tr>"
        for n, r in m["per_length"].items()
    )
    return (
        '<section id="per-length"><h2>Accuracy per label length</h2><table>'
        "<tr><th>length</th><th>images</th><th>sequence accuracy</th><th></th></tr>"
        f"{rows}</table></section>"
    )


def _confusions(m: dict[str, Any]) -> str:
    edits = m["edits"]
    rows = (
        "".join(
            f"<tr><td class=mono>{escape(c['truth']) or '&empty;'}</td>"
            f"<td class=mono>{escape(c['read']) or '&empty;'}</td>"
            f"<td class=num>{c['count']}</td><td>{c['kind']}</td></tr>"
            for c in m["confusions"]
        )
        or '<tr><td colspan="4">no mistakes</td></tr>'
    )
    return (
        '<section id="confusions"><h2>Most confused characters</h2>'
        f"<p>From minimal edit-distance alignments of every misread label: "
        f"{edits['substitution']} substitutions, {edits['deletion']} deletions (missed "
        f"characters, read as &empty;), {edits['insertion']} insertions (characters read that "
        "are not there).</p><table>"
        "<tr><th>truth</th><th>read as</th><th>times</th><th>kind</th></tr>"
        f"{rows}</table></section>"
    )


def _calibration(m: dict[str, Any]) -> str:
    calibration = m["calibration"]
    png = reliability_png(
        calibration["bins"], calibration["mean_confidence"], m["sequence_accuracy"]
    )
    return (
        '<section id="calibration"><h2>Calibration</h2>'
        "<p>Is the confidence a probability? Bars above the diagonal: the model is right more "
        "often than it claims; below: overconfident.</p>"
        f"{_img(png, 'reliability diagram')}</section>"
    )


def _failures(m: dict[str, Any], items: Sequence[GalleryItem]) -> str:
    cells: list[str] = []
    views: list[str] = []
    for number, item in enumerate(items):
        link = ""
        if item.alignment is not None:
            link = f'<div><a href="#align-{number}">CTC alignment view</a></div>'
            views.append(
                f'<details id="align-{number}"{" open" if not views else ""}><summary>'
                f"truth <b class=mono>{escape(item.label)}</b>, read "
                f"<b class=mono>{escape(item.text)}</b>: {escape(Path(item.path).name)}</summary>"
                f"{_img(item.alignment, f'CTC alignment of {item.path}')}</details>"
            )
        cells.append(
            f'<div class="item">{_img(item.thumbnail, item.path)}'
            f"<div>truth <b class=mono>{escape(item.label)}</b></div>"
            f'<div class="bad">read <b class=mono>{escape(item.text) or "(nothing)"}</b> '
            f"({item.confidence:.0%})</div>"
            f'<div class="sub mono" title="{escape(item.path)}">{escape(Path(item.path).name)}'
            f"</div>{link}</div>"
        )
    shown = f"the first {len(items)} of {len(m['errors'])}" if items else "none: every label read"
    alignment = ""
    if views:
        alignment = (
            "<h3>What each column read</h3><p>The CTC alignment view of the first failures "
            "(<code>ctcocr explain</code>): the model input cut into its T columns, the best "
            "class of each column (<code>-</code> = blank), and every class's probability per "
            "column. Repeats merge and blanks drop to give the reading.</p>" + "".join(views)
        )
    return (
        f'<section id="failures"><h2>Failures</h2><p>Misread images, {shown} (all are listed in '
        f'metrics.json).</p><div class="gallery">{"".join(cells)}</div>{alignment}</section>'
    )


def _trained_on(data: dict[str, Any]) -> str:
    counts = ", ".join(f"{data[k]} {k}" for k in ("train", "val") if k in data)
    return f"{data.get('source', 'not recorded')}" + (f" ({counts})" if counts else "")


def _model(m: dict[str, Any], curves: bytes | None) -> str:
    info, latency = m["model_info"], m["latency_ms"]
    rows = [
        ("model", f"<code>{escape(m['model'])}</code>"),
        ("data", f"<code>{escape(m['data'])}</code> ({m['count']} images)"),
        ("architecture", f"{info['architecture']}, T = {info['time_steps']}, "
                         f"input {info['input']}"),
        ("charset", f"<code>{escape(info['charset'])}</code>"),
        ("parameters", f"{info['parameters']:,}"),
        ("weights file", f"{info['file_bytes'] / 1e6:.2f} MB"),
        ("batch-1 latency", f"{latency['batch_1']:.2f} ms (median of {latency['repeats']}, "
                            f"{latency['device']}, file decoding included)"),
        ("trained on", f"<code>{escape(_trained_on(info['trained_on']))}</code>"),
        ("made by", f"{escape(info['made_by'])}; this report: ctcocr {m['ctcocr_version']}, "
                    f"{m['created']}"),
    ]  # fmt: skip
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    training = f"<h3>Training curves</h3>{_img(curves, 'training curves')}" if curves else ""
    return f'<section id="model"><h2>Model and data</h2><table>{table}</table>{training}</section>'


def render(m: dict[str, Any], items: Sequence[GalleryItem], curves: bytes | None) -> str:
    """The whole page for metrics `m`, failure `items` and the run's training.png, if any."""
    title = f"ctcocr report: {m['model']} on {m['data']}"
    body = "".join(
        [_summary(m), _per_length(m), _confusions(m), _calibration(m), _failures(m, items),
         _model(m, curves)]
    )  # fmt: skip
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Evaluation report</h1><p class=sub>{escape(title)}</p>{body}</body></html>\n"
    )
