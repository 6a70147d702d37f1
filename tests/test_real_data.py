"""Users' own data: every list format, case folding, duplicates, fine-tuning, early stopping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file
from test_bad_input import FAST, SMALL_MODEL, assert_fails, read_labels

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig, TrainConfig
from ctcocr.core.run_folder import RunSpec, read_metrics
from ctcocr.data.samples import Sample, read_samples
from ctcocr.decoding.prediction import Prediction
from ctcocr.evaluation.scores import Scores, evaluate_samples


def copy_images(tiny_dataset: Path, folder: Path, count: int) -> list[tuple[str, str]]:
    """The first `count` images of tiny_dataset copied into folder/img -> (name, label) rows."""
    (folder / "img").mkdir(parents=True)
    rows = []
    for path, label in read_labels(tiny_dataset)[:count]:
        name = Path(path).name
        shutil.copy(tiny_dataset / path, folder / "img" / name)
        rows.append((f"img/{name}", label))
    return rows


def write_tab_list(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{p}\t{label}\n" for p, label in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".txt", ".tsv"])
def test_tab_separated_list_trains(cli, tiny_dataset, tmp_path, suffix):
    rows = copy_images(tiny_dataset, tmp_path / "set", 24)
    listing = write_tab_list(tmp_path / "set" / f"train{suffix}", rows)
    assert [s.label for s in read_samples(listing)] == [label for _, label in rows]
    result = cli("train", listing, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "p(blank) starts at 0.86" in result.out  # 4-5 characters in 32 columns


def test_tab_list_keeps_unicode_and_spaces_in_labels(tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 2)
    listing = write_tab_list(tmp_path / "set" / "l.txt", [(rows[0][0], "皖A 12345"), rows[1]])
    assert read_samples(listing)[0].label == "皖A 12345"


def test_tab_list_row_without_tab_names_the_line(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 3)
    listing = tmp_path / "set" / "train.txt"
    listing.write_text(f"{rows[0][0]}\t{rows[0][1]}\n{rows[1][0]} {rows[1][1]}\n", "utf-8")
    result = cli("train", listing, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(listing), "line 2", "path<TAB>label")


def test_tab_list_row_with_missing_file_names_the_row(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 3)
    listing = write_tab_list(tmp_path / "set" / "train.tsv", [*rows, ("img/gone.png", "AB12")])
    result = cli("train", listing, "--out", tmp_path / "run", *FAST)
    assert_fails(result, str(listing), "line 4", "gone.png", "fix or remove the row")


def test_label_hash_file_names(tiny_dataset, tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    for number, (path, label) in enumerate(read_labels(tiny_dataset)[:3]):
        shutil.copy(tiny_dataset / path, folder / f"{label}_{number:08x}.jpg")
    labels = {s.label for s in read_samples(folder)}
    assert labels == {label for _, label in read_labels(tiny_dataset)[:3]}
    pattern = r"^(?P<label>[^_]+)_[0-9a-f]+$"
    assert {s.label for s in read_samples(folder, pattern)} == labels


def test_unicode_labels_train_and_come_back(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 24)
    plates = [(p, "皖沪"[i % 2] + label[:4]) for i, (p, label) in enumerate(rows)]
    listing = write_tab_list(tmp_path / "set" / "plates.txt", plates)
    result = cli("train", listing, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert "皖" in config["charset"] and "沪" in config["charset"]
    result = cli("evaluate", tmp_path / "run", listing, "--json")
    assert json.loads(result.out)["count"] == 24


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_paths_are_reported_and_used_once(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 20)
    listing = write_tab_list(tmp_path / "set" / "train.txt", [*rows, rows[3], rows[5]])
    result = cli("train", listing, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "2 duplicate path(s)" in result.out and rows[3][0].split("/")[1] in result.out
    data = json.loads((tmp_path / "run" / "config.json").read_text("utf-8"))["training"]["data"]
    assert data["train"] + data["val"] == 20


def test_duplicate_path_with_two_labels_is_refused(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 6)
    listing = write_tab_list(tmp_path / "set" / "train.txt", [*rows, (rows[2][0], "ZZZZ")])
    result = cli("train", listing, "--out", tmp_path / "run", *FAST)
    assert_fails(result, rows[2][0].split("/")[1], "different labels", "'ZZZZ'")


def test_images_in_train_and_val_are_reported(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 20)
    train = write_tab_list(tmp_path / "set" / "train.txt", rows)
    val = write_tab_list(tmp_path / "set" / "val.txt", rows[15:])
    result = cli("train", train, "--val", val, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "5 image(s) are in both the training and validation data" in result.out


# --- case -----------------------------------------------------------------------------------


def test_ignore_case_folds_training_labels(cli, tiny_dataset, tmp_path):
    rows = copy_images(tiny_dataset, tmp_path / "set", 24)
    mixed = [(p, label.lower() if i % 2 else label) for i, (p, label) in enumerate(rows)]
    listing = write_tab_list(tmp_path / "set" / "mixed.txt", mixed)
    out = tmp_path / "run"
    result = cli("train", listing, "--ignore-case", "--out", out, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    charset = json.loads((out / "config.json").read_text("utf-8"))["charset"]
    assert charset == charset.lower() and any(c.isalpha() for c in charset)
    # the model remembers: evaluation against upper-case labels folds them too
    result = cli("evaluate", out, listing, "--json")
    assert json.loads(result.out)["ignore_case"] is True


class FixedReader:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def predict_batch(self, images, batch_size: int = 64) -> list[Prediction]:
        return [Prediction(text, 1.0) for text in self.texts]


def test_ignore_case_scores_predictions_in_lower_case():
    samples = [Sample(Path("a.png"), "AB12"), Sample(Path("b.png"), "cd34")]
    reader = FixedReader(["ab12", "CD34"])
    exact, _ = evaluate_samples(reader, samples)
    folded, predictions = evaluate_samples(reader, samples, ignore_case=True)
    assert exact.sequence_accuracy == 0.0
    assert folded.sequence_accuracy == 1.0
    assert [p.text for p in predictions] == ["ab12", "cd34"]


# --- fine-tuning ----------------------------------------------------------------------------


def test_init_keeps_the_rows_of_shared_characters(cli, tiny_run, tiny_dataset, tmp_path):
    from ctcocr.core.run_folder import read_spec
    from ctcocr.network.weights import build_network
    from ctcocr.training.finetune import load_initial_weights

    old_spec = read_spec(tiny_run)
    old = load_file(str(tiny_run / "model.safetensors"))
    shared = old_spec.charset.chars[:3]
    new_chars = shared + "αβ"
    spec = RunSpec(Charset(new_chars), old_spec.preprocess, old_spec.model)
    network = build_network(spec)
    fresh = network.classifier.weight.detach().clone()
    message = load_initial_weights(network, tiny_run, spec)
    weight = network.classifier.weight.detach()
    assert (weight[0] == old["classifier.weight"][0]).all()  # the blank
    for new_index, char in enumerate(shared, start=1):
        old_index = old_spec.charset.chars.index(char) + 1
        assert (weight[new_index] == old["classifier.weight"][old_index]).all()
    assert (weight[4:] == fresh[4:]).all()  # α and β start fresh
    assert network.classifier.weight.shape[0] == 6
    assert "3 shared character(s) kept, 2 new" in message
    key = "backbone.collapse.0.weight"
    assert (network.state_dict()[key] == old[key]).all()


def test_train_with_init_uses_the_init_runs_model(cli, tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "tuned"
    result = cli("train", tiny_dataset, "--init", tiny_run, "--out", out, *FAST)
    assert result.code == 0, result.err
    assert "initialised from" in result.out
    config = json.loads((out / "config.json").read_text("utf-8"))
    base = json.loads((tiny_run / "config.json").read_text("utf-8"))
    assert config["model"] == base["model"] and config["preprocess"] == base["preprocess"]
    assert config["training"]["data"]["init"] == str(tiny_run)


def test_init_with_another_architecture_is_refused(cli, tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "tuned"
    result = cli("train", tiny_dataset, "--init", tiny_run, "--model", "cnn", "--out", out, *FAST)
    assert_fails(result, str(tiny_run), "crnn", "differs", "drop --init")


def test_synthetic_training_can_start_from_a_run(cli, tiny_run, tmp_path):
    out = tmp_path / "styled"
    result = cli(
        "train", "--synthetic", "--init", tiny_run, "--out", out, "--val-size", 16,
        "--epoch-size", 32, *FAST,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"initialised from {tiny_run}" in result.out
    config = json.loads((out / "config.json").read_text("utf-8"))
    base = json.loads((tiny_run / "config.json").read_text("utf-8"))
    assert config["model"] == base["model"] and config["preprocess"] == base["preprocess"]
    assert config["training"]["data"]["init"] == str(tiny_run)
    assert config["training"]["data"]["source"] == "synthetic"


def test_init_must_be_a_run(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--init", tmp_path, "--out", tmp_path / "r", *FAST)
    assert_fails(result, "not a ctcocr run")


# --- early stopping -------------------------------------------------------------------------


def test_patience_stops_and_keeps_the_best(tiny_dataset, tmp_path, monkeypatch, one_torch_thread):
    from ctcocr.training import loop
    from ctcocr.training.loaders import TrainingData

    # Validation that improves for two epochs, then gets worse: patience 2 stops at epoch 4.
    accuracies = iter([0.2, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4])
    monkeypatch.setattr(loop, "validate", lambda *args: (1.0, Scores(8, next(accuracies), 0.5, {})))
    samples = read_samples(tiny_dataset)[:16]
    spec = RunSpec(
        Charset.from_labels(s.label for s in samples),
        PreprocessConfig(64, 32, 1),
        ModelConfig("cnn", 16, widths=(8, 8, 8), depths=(1, 1, 1), features=8),
    )
    config = TrainConfig(epochs=8, batch_size=8, workers=0, patience=2, min_epoch_images=0)
    lines: list[str] = []
    data = TrainingData(val=samples, train=samples)
    progress = loop.fit(tmp_path, spec, data, config, log=lines.append)
    assert progress.epoch == 4 and progress.best_epoch == 2
    assert progress.best_accuracy == 0.5
    assert len(read_metrics(tmp_path)) == 4
    assert any("--patience" in line for line in lines[-2:])  # before the temperature line


def test_equal_accuracy_with_lower_loss_counts_as_better(tiny_dataset, tmp_path, monkeypatch):
    from ctcocr.training import loop
    from ctcocr.training.loaders import TrainingData

    results = iter([(2.0, 1.0), (1.0, 1.0), (1.5, 1.0)])  # (val loss, accuracy)

    def validate(*args):
        loss, accuracy = next(results)
        return loss, Scores(8, accuracy, 1.0, {})

    monkeypatch.setattr(loop, "validate", validate)
    samples = read_samples(tiny_dataset)[:8]
    spec = RunSpec(
        Charset.from_labels(s.label for s in samples),
        PreprocessConfig(64, 32, 1),
        ModelConfig("cnn", 16, widths=(8, 8, 8), depths=(1, 1, 1), features=8),
    )
    config = TrainConfig(epochs=3, batch_size=8, workers=0, min_epoch_images=0)
    data = TrainingData(val=samples, train=samples)
    assert loop.fit(tmp_path, spec, data, config, log=lambda _: None).best_epoch == 2


def test_augment_flag_is_refused_for_synthetic(cli, tmp_path):
    result = cli("train", "--synthetic", "--augment", "--out", tmp_path / "r", *FAST)
    assert_fails(result, "--augment", "synthetic")


def test_augmentation_is_on_for_files_and_recorded(cli, tiny_dataset, tmp_path):
    result = cli("train", tiny_dataset, "--out", tmp_path / "on", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    training = json.loads((tmp_path / "on" / "config.json").read_text("utf-8"))["training"]
    assert training["config"]["augment"] is None  # None: the default, on for image files
    assert training["augmentation"]["rotate_degrees"] > 0
    off = tmp_path / "off"
    result = cli("train", tiny_dataset, "--no-augment", "--out", off, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert json.loads((off / "config.json").read_text("utf-8"))["training"]["augmentation"] is None


def test_evaluate_ignore_case_flag(cli, tiny_run, tiny_dataset):
    exact = json.loads(cli("evaluate", tiny_run, tiny_dataset, "--json").out)
    folded = json.loads(cli("evaluate", tiny_run, tiny_dataset, "--json", "--ignore-case").out)
    assert exact["ignore_case"] is False and folded["ignore_case"] is True
    assert all(e["label"] == e["label"].lower() for e in folded["errors"])


# --- the real sets in ../shared/datasets, when present -------------------------------------

REAL = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REAL = REAL if REAL.is_dir() else Path("/work/shared/datasets")


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("captcha_images_v2", 5),
        ("really_simple_captcha", 4),
        ("henan_univ_digits", 4),
        ("cn_plates_lprnet", 7),
    ],
)
def test_real_set_reads_and_preprocesses(name, length):
    from ctcocr.data.augment import AugmentConfig, augment
    from ctcocr.data.images import load_image, preprocess

    test_csv = REAL / name / "test.csv"
    if not test_csv.is_file():
        pytest.skip(f"{test_csv} is not here")
    samples = read_samples(test_csv)
    assert len(samples) > 50 and all(len(s.label) == length for s in samples)
    for sample in samples[:3]:
        assert preprocess(sample.path, PreprocessConfig()).shape == (1, 64, 128)
        image = load_image(sample.path)
        assert augment(image, AugmentConfig(), np.random.default_rng(0)).size == image.size
