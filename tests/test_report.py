"""`evaluate --report`: one self-contained HTML page and a metrics.json that agrees with --json;
and the character alignments its confusion table is built from."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ctcocr.evaluation.confusions import align, count_confusions
from ctcocr.evaluation.report import reliability
from ctcocr.evaluation.scores import edit_distance

SECTIONS = {"summary", "per-length", "confusions", "calibration", "failures", "model"}


class Page(HTMLParser):
    """The parts of a page a self-contained report is judged by."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.gallery_items = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "img":
            self.images.append(values["src"])
        if "href" in values:
            self.links.append(values["href"])
        if values.get("class") == "item":
            self.gallery_items += 1


@pytest.fixture(scope="module")
def report(tiny_run: Path, tiny_dataset: Path, tmp_path_factory) -> tuple[Path, dict, str]:
    """(report folder, evaluate --report --json output, plain evaluate --json output)."""
    from contextlib import redirect_stdout

    from ctcocr.cli.main import main

    folder = tmp_path_factory.mktemp("report")
    outputs = []
    for extra in (("--report", folder, "--report-explain", 2), ()):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            code = main(["evaluate", str(tiny_run), str(tiny_dataset), "--json", *map(str, extra)])
        assert code == 0
        outputs.append(json.loads(buffer.getvalue()))
    return folder, outputs[0], outputs[1]


def test_report_metrics_agree_with_evaluate_json(report):
    folder, with_report, plain = report
    written = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert written == with_report
    for key, value in plain.items():
        assert written[key] == value, key
    assert {"confusions", "edits", "calibration", "model_info", "latency_ms"} <= set(written)


def test_report_metrics_are_consistent(report, tiny_run):
    from ctcocr.network.model import count_parameters
    from ctcocr.network.weights import load_network

    metrics = report[0] / "metrics.json"
    m = json.loads(metrics.read_text(encoding="utf-8"))
    # Every edit of every alignment is counted once: the same total the character accuracy uses.
    edits = sum(edit_distance(e["label"], e["text"]) for e in m["errors"])
    assert sum(m["edits"].values()) == edits
    characters = sum(int(n) * row["count"] for n, row in m["per_length"].items())
    assert m["character_accuracy"] == pytest.approx(max(0.0, 1 - edits / characters))
    assert sum(b["count"] for b in m["calibration"]["bins"]) == m["count"]
    network, _ = load_network(tiny_run)
    assert m["model_info"]["parameters"] == count_parameters(network)
    assert m["model_info"]["file_bytes"] == (tiny_run / "model.safetensors").stat().st_size
    assert m["latency_ms"]["batch_1"] > 0
    assert m["data"].endswith("tiny") and m["model"] == str(tiny_run)


def test_report_html_is_one_self_contained_page(report):
    folder, m, _ = report
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "report.html"]
    page = Page()
    page.feed((folder / "report.html").read_text(encoding="utf-8"))
    assert set(page.ids) >= SECTIONS
    assert "script" not in page.tags and "link" not in page.tags
    assert all(link.startswith("#") for link in page.links)  # nothing outside the page
    prefix = "data:image/png;base64,"
    assert page.images and all(src.startswith(prefix) for src in page.images)
    for src in page.images:
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :]))) as image:
            assert image.format == "PNG" and image.width > 0
    failures = len(m["errors"])
    assert page.gallery_items == min(24, failures)
    assert sum(i.startswith("align-") for i in page.ids) == min(2, failures)
    # calibration plot + thumbnails + alignment views + the run's training curves
    assert len(page.images) == 1 + page.gallery_items + min(2, failures) + 1


def test_report_into_a_file_path_fails_cleanly(cli, tiny_run, tiny_dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = cli("evaluate", tiny_run, tiny_dataset, "--report", blocker / "sub")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"--report {blocker / 'sub'}: cannot make this folder" in result.err


def test_align_pairs_substitutions_and_gaps():
    assert align("O0AB", "00AB") == [("O", "0"), ("0", "0"), ("A", "A"), ("B", "B")]
    assert align("ABCD", "ACD") == [("A", "A"), ("B", ""), ("C", "C"), ("D", "D")]
    assert align("AC", "ABC") == [("A", "A"), ("", "B"), ("C", "C")]
    assert align("", "") == []


@given(st.text("AB0O", max_size=7), st.text("AB0O", max_size=7))
def test_align_is_a_minimal_edit_script(truth: str, read: str):
    pairs = align(truth, read)
    assert "".join(t for t, _ in pairs) == truth
    assert "".join(r for _, r in pairs) == read
    assert sum(t != r for t, r in pairs) == edit_distance(truth, read)


def test_confusions_count_each_kind_most_frequent_first():
    found = count_confusions(
        [("O0O", "000"), ("AO", "A0"), ("ABC", "AC"), ("AB", "ABX"), ("SAME", "SAME")]
    )
    assert [(c.truth, c.read, c.count, c.kind) for c in found] == [
        ("O", "0", 3, "substitution"),
        ("", "X", 1, "insertion"),
        ("B", "", 1, "deletion"),
    ]


def test_reliability_bins_cover_zero_to_one():
    bins = reliability([0.05, 0.95, 1.0, 0.5], [False, True, True, False], bins=10)
    assert [b["count"] for b in bins] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[9]["accuracy"] == 1.0 and bins[9]["confidence"] == pytest.approx(0.975)
    assert bins[1]["accuracy"] is None


def test_report_of_a_perfect_reading_says_so(report):
    from ctcocr.evaluation.report_html import render

    m = json.loads((report[0] / "metrics.json").read_text(encoding="utf-8"))
    m.update(sequence_accuracy=1.0, character_accuracy=1.0, errors=[], confusions=[])
    m["edits"] = dict.fromkeys(m["edits"], 0)
    page = Page()
    page.feed(render(m, [], curves=None))
    assert set(page.ids) >= SECTIONS and page.gallery_items == 0
    assert len(page.images) == 1  # the reliability diagram only
    text = render(m, [], curves=None)
    assert "none: every label read" in text and "no mistakes" in text and "100.00%" in text
