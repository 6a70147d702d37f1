"""`ctcocr audit`: every image read by a model that never trained on it, ranked, on a page;
`--apply` writes the corrected labels beside the originals; a killed audit resumes."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FAST, SMALL_MODEL

from ctcocr.cli.main import main
from ctcocr.core.charset import Charset
from ctcocr.data.synth import SynthConfig, write_dataset
from ctcocr.decoding.decoder import decode
from ctcocr.evaluation.audit_html import SCRIPT
from ctcocr.evaluation.audit_scores import CSV_COLUMNS, rank_rows, score_images
from ctcocr.training.audit import assign_folds

WRONG = {3: "ZZZZ", 10: "QQQQQ", 20: "7777"}  # row -> a label its image does not show


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_labels(folder: Path, rows: list[dict[str, str]]) -> None:
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows((row["path"], row["label"]) for row in rows)


@pytest.fixture(scope="module")
def mislabelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 synthetic CAPTCHAs, three of them given a wrong label (WRONG)."""
    data = write_dataset(
        tmp_path_factory.mktemp("audit") / "data", 30, SynthConfig(min_length=4, max_length=5), 2
    )
    rows = read_csv(data / "labels.csv")
    for index, label in WRONG.items():
        rows[index]["label"] = label
    write_labels(data, rows)
    return data


@pytest.fixture(scope="module")
def audited(mislabelled: Path, one_torch_thread: None) -> Path:
    """A 2-fold audit of `mislabelled`, one epoch of a tiny network per fold. Do not modify."""
    out = mislabelled.parent / "audit"
    code = main(["audit", str(mislabelled), "--out", str(out), "--folds", "2", *FAST,
                 *SMALL_MODEL])  # fmt: skip
    assert code == 0
    return out


def test_every_image_is_read_by_the_model_that_held_it_out(audited, mislabelled):
    rows = read_csv(audited / "audit.csv")
    images = {
        str((mislabelled / r["path"]).resolve()) for r in read_csv(mislabelled / "labels.csv")
    }
    assert {str((mislabelled / r["path"]).resolve()) for r in rows} == images
    held_out: dict[str, set[str]] = {}
    for fold in ("1", "2"):
        run = audited / "folds" / fold
        trained = {r["path"] for r in read_csv(run / "train.csv")}
        held_out[fold] = {r["path"] for r in read_csv(run / "heldout.csv")}
        assert trained | held_out[fold] == images and not trained & held_out[fold]
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        assert config["training"]["data"]["source"] == str(run / "train.csv")
        assert json.loads((run / "fold.json").read_text(encoding="utf-8"))["held_out"] == 15
    assert not held_out["1"] & held_out["2"]
    for row in rows:  # read by its fold's model, which trained on the other fold only
        assert str((mislabelled / row["path"]).resolve()) in held_out[row["fold"]]


def test_audit_csv_ranks_disagreements_first(audited, mislabelled):
    rows = read_csv(audited / "audit.csv")
    with (audited / "audit.csv").open(encoding="utf-8") as handle:
        assert tuple(handle.readline().strip().split(",")) == CSV_COLUMNS
    assert [int(r["rank"]) for r in rows] == list(range(1, 31))
    disagree = [r["label"] != r["reading"] for r in rows]
    assert disagree == sorted(disagree, reverse=True)  # no agreement before a disagreement
    scores = [float(r["score"]) for r, d in zip(rows, disagree, strict=True) if d]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        assert 0 <= float(row["confidence"]) <= 1 and 0 <= float(row["label_probability"]) <= 1
        assert row["fold"] in ("1", "2")
    labels = {r["path"]: r["label"] for r in rows}
    originals = read_csv(mislabelled / "labels.csv")
    assert {labels[originals[i]["path"]] for i in WRONG} == set(WRONG.values())


def test_audit_page_is_self_contained(audited):
    page = (audited / "audit.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and 'src="//' not in page
    assert "<link" not in page and "<script src" not in page
    rows = re.findall(r'<tr data-path="([^"]+)"', page)
    assert rows == [r["path"] for r in read_csv(audited / "audit.csv")]  # 30 < --page-rows
    assert page.count('src="data:image/png;base64,') == 30
    assert 'id="export"' in page and "ctcocr audit --apply" in page


def test_score_weighs_reading_against_label():
    """A model sure it reads 'AB': the label 'BA' scores far above 'AA', which differs where
    the model hesitates; a label it reads scores 0."""
    charset = Charset("AB")
    confident = np.array([[0, 20, 0], [20, 0, 0], [0, 0, 20], [20, 0, 0]], np.float32)  # A - B -
    hesitant = confident.copy()
    hesitant[2] = [0, 4.9, 5]  # B only just above A at the third step
    logits = {"sure": confident, "unsure": hesitant, "agree": confident}
    reader = SimpleNamespace(
        spec=SimpleNamespace(charset=charset, temperature=1.0),
        logits=lambda images: np.stack([logits[name] for name in images]),
        decode=lambda batch: decode(batch, charset),
    )
    rows = score_images(reader, ["agree", "unsure", "sure"], ["AB", "AA", "BA"],  # type: ignore[arg-type]
                        ["agree.png", "unsure.png", "sure.png"], fold=1)  # fmt: skip
    agree, unsure, sure = rows
    assert agree.reading == "AB" and agree.score == 0 and agree.label_probability > 0.99
    assert sure.reading == unsure.reading == "AB"
    assert sure.score > 10 > unsure.score > 0
    assert sure.label_probability < 1e-10 < unsure.label_probability
    assert [r.path for r in rank_rows(rows)] == ["sure.png", "unsure.png", "agree.png"]


def test_folds_are_seeded_and_even():
    folds = assign_folds(23, 5, seed=4)
    assert sorted({folds.count(f) for f in range(1, 6)}) == [4, 5]
    assert folds == assign_folds(23, 5, seed=4) != assign_folds(23, 5, seed=5)


def test_killed_audit_resumes_without_retraining_finished_folds(cli, mislabelled, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    import ctcocr.training.command as command

    out, real_train = tmp_path / "audit", command.train_command
    trained: list[str] = []

    def killed_at_fold_2(args, synth):
        if args.out.name == "2":
            raise KeyboardInterrupt
        trained.append(args.out.name)
        return real_train(args, synth)

    flags = ("audit", mislabelled, "--out", out, "--folds", 2, *FAST, *SMALL_MODEL)
    monkeypatch.setattr(command, "train_command", killed_at_fold_2)
    assert cli(*flags).code == 130 and trained == ["1"]
    assert not (out / "audit.csv").exists() and not (out / "folds" / "2" / "fold.json").exists()
    first_fold = (out / "folds" / "1" / "metrics.jsonl").read_bytes()

    def counted(args, synth):
        trained.append(args.out.name)
        return real_train(args, synth)

    monkeypatch.setattr(command, "train_command", counted)
    again = cli(*flags)
    assert again.code == 0, again.err
    assert trained == ["1", "2"]  # fold 1 once, in the killed run
    assert "fold 1/2: trained already" in again.out
    assert (out / "folds" / "1" / "metrics.jsonl").read_bytes() == first_fold
    assert len(read_csv(out / "audit.csv")) == 30
    # an unfinished fold (its epochs done, not marked finished) continues from its resume state
    (out / "folds" / "2" / "fold.json").unlink()
    resumed = cli(*flags)
    assert resumed.code == 0, resumed.err
    assert "resuming" in resumed.out and trained == ["1", "2", "2"]
    assert len((out / "folds" / "2" / "metrics.jsonl").read_text().splitlines()) == 1


def test_audit_refuses_a_folder_of_another_audit(cli, audited, mislabelled, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(audited, out)
    result = cli("audit", mislabelled, "--out", out, "--folds", 3, *FAST, *SMALL_MODEL)
    assert result.code == 2 and "another --folds" in result.err
    result = cli("audit", "--synthetic", "--out", tmp_path / "s", *FAST)
    assert result.code == 2 and "--synthetic" in result.err


def test_apply_writes_corrected_labels_beside_the_originals(cli, tiny_dataset, tmp_path):
    rows = read_csv(tiny_dataset / "labels.csv")
    before = (tiny_dataset / "labels.csv").read_bytes()
    fixes = tmp_path / "fixes.csv"
    fixes.write_text(f'path,label\n{rows[0]["path"]},FIXED\n{rows[5]["path"]},"A,B"\n')
    new = tmp_path / "out" / "fixed.csv"
    result = cli("audit", "--apply", fixes, tiny_dataset, "--out", new)
    assert result.code == 0, result.err
    assert "2 label(s) changed" in result.out
    assert (tiny_dataset / "labels.csv").read_bytes() == before
    from ctcocr.data.samples import read_samples

    fixed = read_samples(new)
    assert len(fixed) == len(rows) == 48
    assert [s.label for s in fixed] == ["FIXED", *[r["label"] for r in rows[1:5]], "A,B",
                                        *[r["label"] for r in rows[6:]]]  # fmt: skip
    assert [s.path.resolve() for s in fixed] == [(tiny_dataset / r["path"]).resolve() for r in rows]


@pytest.mark.parametrize(
    ("fixes", "out", "message"),
    [
        ("path,label\nimages/nowhere.png,ABCD\n", "new.csv", "line 2: images/nowhere.png is not"),
        ("path,label\n{first},\n", "new.csv", "line 2: {first} has an empty label"),
        ("path,label\n{first},ABCD\n", "{data}/labels.csv", "is DATA's own manifest"),
        ("path,label\n{first},ABCD\n{first},ABCE\n", "new.csv", "is fixed twice"),
        ("label\nABCD\n", "new.csv", "header 'path,label'"),
    ],
)
def test_apply_refuses_bad_fixes(cli, tiny_dataset, tmp_path, fixes, out, message):
    first = read_csv(tiny_dataset / "labels.csv")[0]["path"]
    fixes_file = tmp_path / "fixes.csv"
    fixes_file.write_text(fixes.format(first=first))
    before = (tiny_dataset / "labels.csv").read_bytes()
    target = Path(out.format(data=tiny_dataset))
    target = target if target.is_absolute() else tmp_path / target
    result = cli("audit", "--apply", fixes_file, tiny_dataset, "--out", target)
    assert result.code == 2 and "Traceback" not in result.err
    assert message.format(first=first) in result.err
    assert (tiny_dataset / "labels.csv").read_bytes() == before
    assert not (tmp_path / "new.csv").exists()


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_page_exports_the_changed_rows_as_csv():
    rows = [
        {"path": "a.png", "label": "AB", "value": "AB"},  # kept
        {"path": "b.png", "label": "CD", "value": "CO"},  # reading taken
        {"path": 'c,"d".png', "label": "EF", "value": "E,F"},  # quoted
        {"path": "e.png", "label": "GH", "value": "  "},  # cleared: not a fix
    ]
    program = f"{SCRIPT}\nprocess.stdout.write(fixesCsv({json.dumps(rows)}));"
    result = subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True)
    assert result.stdout == 'path,label\nb.png,CO\n"c,""d"".png","E,F"\n'
