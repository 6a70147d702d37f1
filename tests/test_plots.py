"""Training curves (training/curves.py) and prediction grids (evaluation/gallery.py) are
written as valid PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ctcocr.evaluation.gallery import prediction_grid
from ctcocr.training.curves import plot_training_curves


def _write_metrics(path: Path) -> Path:
    rows = [
        {"epoch": 1, "step": 150, "elapsed_s": 31.2, "train_loss": 2.31, "val_loss": 1.9,
         "sequence_accuracy": 0.12, "character_accuracy": 0.55, "lr": 0.002},
        {"epoch": 2, "step": 300, "elapsed_s": 62.0, "train_loss": 1.10,
         "sequence_accuracy": 0.48, "character_accuracy": 0.81, "lr": 0.0015},
        {"epoch": 3, "step": 450, "elapsed_s": 93.5, "train_loss": 0.42, "val_loss": 0.5,
         "sequence_accuracy": 0.41, "character_accuracy": 0.86, "lr": 0.0005},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _images(count: int) -> list[Image.Image]:
    images = []
    for index in range(count):
        mode = "L" if index % 2 else "RGB"
        image = Image.new(mode, (80 + 20 * index, 30 + 5 * index), "white")
        ImageDraw.Draw(image).text((4, 4), f"A{index}", fill="black")
        images.append(image)
    return images


def test_plot_training_curves_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "plots" / "curves.png"
    result = plot_training_curves(_write_metrics(tmp_path / "metrics.jsonl"), out)
    assert result == out
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width > 600 and 200 < image.height < image.width
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]


def test_plot_training_curves_without_validation_says_why_the_panel_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fine-tuning with nothing held out records no validation keys: the accuracy panel
    says so, and the title names the last epoch kept."""
    rows = [{"epoch": e, "step": 16 * e, "elapsed_s": 9.0 * e, "train_loss": 1 / e, "lr": 1e-3}
            for e in (1, 2, 3)]  # fmt: skip
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    import matplotlib.figure

    texts: list[str] = []
    original = matplotlib.figure.Figure.savefig

    def keep_texts(figure, *args, **kwargs):  # type: ignore[no-untyped-def]
        texts.extend(t.get_text() for ax in figure.axes for t in ax.texts)
        texts.append(figure._suptitle.get_text())
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep_texts)
    out = plot_training_curves(metrics, tmp_path / "curves.png")
    assert out.is_file()
    assert "no images held out:\nthe last epoch is kept" in texts
    assert any("the last epoch is kept" in t and "no validation" in t for t in texts)


def test_plot_training_curves_empty_file_raises(tmp_path: Path) -> None:
    empty = tmp_path / "metrics.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics\.jsonl"):
        plot_training_curves(empty, tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_prediction_grid_grows_with_rows(tmp_path: Path) -> None:
    images = _images(5)
    truths = ["A0", "A1", "A2", "A3", "车牌"]
    preds = ["A0", "A7", "A2", "A3", "车牌"]
    one_row = prediction_grid(images[:4], truths[:4], preds[:4], tmp_path / "one.png", columns=4)
    two_rows = prediction_grid(
        images, truths, preds, tmp_path / "two.png", columns=4, confidences=[0.97] * 5
    )
    with Image.open(one_row) as first, Image.open(two_rows) as second:
        assert first.mode == second.mode == "RGB"
        assert first.width == second.width >= 4 * 192
        assert second.height > first.height
    narrow = prediction_grid(images, truths, preds, tmp_path / "narrow.png", columns=2)
    with Image.open(narrow) as third, Image.open(two_rows) as second:
        assert third.height > second.height and third.width < second.width


def test_prediction_grid_rejects_bad_lists(tmp_path: Path) -> None:
    images = _images(3)
    with pytest.raises(ValueError, match="same length"):
        prediction_grid(images, ["a", "b"], ["a", "b", "c"], tmp_path / "grid.png")
    with pytest.raises(ValueError, match="same length"):
        prediction_grid(images, ["a"] * 3, ["a"] * 3, tmp_path / "grid.png", confidences=[0.5])
    with pytest.raises(ValueError):
        prediction_grid([], [], [], tmp_path / "grid.png")
    assert not (tmp_path / "grid.png").exists()
