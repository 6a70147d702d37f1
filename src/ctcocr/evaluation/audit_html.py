"""The audit's review page: one self-contained HTML file (inline CSS and JavaScript, images as
data URIs), so that it opens from disk anywhere and fetches nothing.

Each row shows the image, its label, the held-out model's reading, and two buttons: keep the
label, or take the reading (the text field beside them takes any other text). The export
button downloads fixes.csv, `path,label` for every row whose text differs from its label:
what `ctcocr audit --apply fixes.csv DATA --out NEW.csv` reads. Choices are kept in the
browser's local storage for this audit, so a closed tab loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from PIL import Image

from ctcocr.core.errors import ImageError
from ctcocr.core.run_folder import write_atomic
from ctcocr.evaluation.audit_scores import AuditRow
from ctcocr.evaluation.report_html import data_uri, thumbnail

# Files of these formats and at most this size go in as they are; others as a PNG thumbnail.
INLINE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
INLINE_BYTES = 64_000
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
.sub { color: #666; } code, .mono { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 0.5em 0; width: 100%; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: middle; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { font-family: ui-monospace, monospace; font-size: 1.2em; }
td img { max-width: 260px; max-height: 90px; image-rendering: pixelated; }
tr.fixed { background: #eaf6ea; } input { font-family: ui-monospace, monospace; width: 9em; }
button { cursor: pointer; } #export { font-size: 1.05em; padding: 0.3em 1em; }
.bar { position: sticky; top: 0; background: #fff; padding: 0.5em 0; z-index: 1; }
"""
SCRIPT = r"""
"use strict";
function csvField(text) {
  return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}
// rows: [{path, label, value}] -> fixes.csv: the rows whose new text differs from the label.
function fixesCsv(rows) {
  const lines = ["path,label"];
  for (const row of rows) {
    if (row.value.trim() && row.value !== row.label) {
      lines.push(csvField(row.path) + "," + csvField(row.value));
    }
  }
  return lines.join("\n") + "\n";
}
function pageRows() {
  return Array.from(document.querySelectorAll("tr[data-path]"), (tr) => ({
    path: tr.dataset.path, label: tr.dataset.label, value: tr.querySelector("input").value, tr,
  }));
}
function storageKey() { return "ctcocr-audit:" + document.body.dataset.audit; }
function refresh() {
  const rows = pageRows(), saved = {};
  let fixes = 0;
  for (const row of rows) {
    const fixed = row.value.trim() !== "" && row.value !== row.label;
    row.tr.classList.toggle("fixed", fixed);
    if (fixed) { fixes += 1; saved[row.path] = row.value; }
  }
  document.getElementById("count").textContent = fixes + " label(s) changed";
  try { localStorage.setItem(storageKey(), JSON.stringify(saved)); } catch (e) { /* file:// */ }
}
function init() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(storageKey()) || "{}"); } catch (e) { saved = {}; }
  for (const tr of document.querySelectorAll("tr[data-path]")) {
    const input = tr.querySelector("input");
    if (typeof saved[tr.dataset.path] === "string") input.value = saved[tr.dataset.path];
    const choose = (text) => () => { input.value = text; refresh(); };
    tr.querySelector(".keep").addEventListener("click", choose(tr.dataset.label));
    tr.querySelector(".take").addEventListener("click", choose(tr.dataset.reading));
    input.addEventListener("input", refresh);
  }
  document.getElementById("export").addEventListener("click", () => {
    const blob = new Blob([fixesCsv(pageRows())], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "fixes.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  refresh();
}
if (typeof document !== "undefined") init();
"""


def image_uri(path: Path) -> str:
    """A small JPEG, PNG or GIF as it is; anything else (or larger) as a PNG thumbnail."""
    try:
        raw = path.read_bytes()
        with Image.open(io.BytesIO(raw)) as image:
            kind = INLINE_FORMATS.get(image.format or "")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: cannot read the image for the audit page ({exc})") from exc
    if kind is not None and len(raw) <= INLINE_BYTES:
        return f"data:{kind};base64," + base64.b64encode(raw).decode("ascii")
    return data_uri(thumbnail(path))


def audit_page(rows: Sequence[AuditRow], images: Sequence[Path], summary: str) -> str:
    """The page's HTML: `rows` (ranked) with their `images` (same order), under `summary`."""
    fingerprint = hashlib.sha1(
        json.dumps([(r.path, r.label, r.reading) for r in rows]).encode("utf-8")
    ).hexdigest()[:16]
    body = "".join(_row(row, image) for row, image in zip(rows, images, strict=True))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>ctcocr audit</title>"
        f'<style>{STYLE}</style></head><body data-audit="{fingerprint}">'
        f'<h1>Label audit</h1><p class="sub">{escape(summary)}</p>'
        "<p>For each image, keep its label or take the model's reading (or type the text it "
        "shows), then download the changed rows and apply them: "
        "<code>ctcocr audit --apply fixes.csv DATA --out fixed.csv</code> writes a corrected "
        "copy of the labels and leaves DATA as it is.</p>"
        '<div class="bar"><button id="export" type="button">Download fixes.csv</button> '
        '<span id="count" class="sub"></span></div>'
        "<table><thead><tr><th>rank</th><th>image</th><th>label</th><th>reading</th>"
        "<th>confidence</th><th>P(label)</th><th>score</th><th>new label</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _row(row: AuditRow, image: Path) -> str:
    path, label, reading = (escape(t, quote=True) for t in (row.path, row.label, row.reading))
    return (
        f'<tr data-path="{path}" data-label="{label}" data-reading="{reading}">'
        f"<td class=num>{row.rank}</td>"
        f'<td><img src="{image_uri(image)}" alt="{path}" title="{path}"></td>'
        f"<td class=text>{label}</td><td class=text>{reading or '&empty;'}</td>"
        f"<td class=num>{row.confidence:.1%}</td><td class=num>{row.label_probability:.1e}</td>"
        f"<td class=num>{row.score:.1f}</td>"
        '<td><button class="keep" type="button">label</button> '
        '<button class="take" type="button">reading</button> '
        f'<input value="{label}" aria-label="new label for {path}"></td></tr>'
    )


def write_audit_page(
    out: Path, rows: Sequence[AuditRow], images: Sequence[Path], summary: str
) -> None:
    """Write the page to `out` (atomically)."""
    html = audit_page(rows, images, summary)
    write_atomic(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
