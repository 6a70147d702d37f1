"""Images of every mode and size reach the model; augmentation changes pixels, never labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ctcocr.core.config import PreprocessConfig
from ctcocr.data.augment import AugmentConfig, augment
from ctcocr.data.images import load_image, preprocess
from ctcocr.data.samples import Sample, read_samples
from ctcocr.training.datasets import ImageDataset

SPEC = PreprocessConfig(128, 64, 1)


def text_image(size: tuple[int, int] = (140, 40), mode: str = "RGB") -> Image.Image:
    """Dark strokes on a light background, like a text line."""
    image = Image.new("RGB", size, (230, 225, 220))
    draw = ImageDraw.Draw(image)
    for x in range(8, size[0] - 12, 18):
        draw.line([(x, 6), (x + 8, size[1] - 6)], fill=(20, 30, 40), width=3)
    return image.convert(mode)


def write_modes(folder: Path) -> dict[str, Path]:
    """One file per awkward kind of image a user may have."""
    folder.mkdir(parents=True, exist_ok=True)
    base = text_image()
    files: dict[str, Path] = {}
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.new("L", base.size, 200))
    for name, image in {
        "rgba": rgba,
        "palette": base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "one_bit": base.convert("1"),
        "grey": base.convert("L"),
        "tiny": text_image((70, 24)),
        "large": text_image((1600, 400)),
    }.items():
        files[name] = folder / f"{name}.png"
        image.save(files[name])
    sixteen = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    files["sixteen_bit"] = folder / "sixteen_bit.png"
    Image.fromarray(sixteen).save(files["sixteen_bit"])
    files["jpeg_named_png"] = folder / "jpeg_named_png.png"
    base.save(files["jpeg_named_png"], format="JPEG")
    return files


@pytest.fixture(scope="module")
def mode_files(tmp_path_factory) -> dict[str, Path]:
    return write_modes(tmp_path_factory.mktemp("modes"))


@pytest.mark.parametrize(
    "kind", ["rgba", "palette", "one_bit", "grey", "tiny", "large", "sixteen_bit", "jpeg_named_png"]
)
def test_every_image_kind_becomes_the_model_input(mode_files, kind):
    array = preprocess(mode_files[kind], SPEC)
    assert array.shape == (1, 64, 128) and array.dtype == np.float32
    assert -1.0 <= array.min() < array.max() <= 1.0  # strokes and background both survive


def test_sixteen_bit_reads_like_its_eight_bit_twin(mode_files):
    assert load_image(mode_files["sixteen_bit"]).mode.startswith("I")
    sixteen, grey = (
        preprocess(mode_files["sixteen_bit"], SPEC),
        preprocess(mode_files["grey"], SPEC),
    )
    assert np.abs(sixteen - grey).max() < 0.02


@pytest.mark.parametrize("kind", ["rgba", "palette", "one_bit", "sixteen_bit", "tiny", "large"])
def test_augment_keeps_size_and_gives_l_or_rgb(mode_files, kind):
    image = load_image(mode_files[kind])
    out = augment(image, AugmentConfig(), np.random.default_rng(0))
    assert out.size == image.size
    assert out.mode in ("L", "RGB")


def test_augment_same_seed_same_image_other_seed_other_image():
    image = text_image()
    config = AugmentConfig().scaled(2.0)
    first = np.asarray(augment(image, config, np.random.default_rng(7)))
    again = np.asarray(augment(image, config, np.random.default_rng(7)))
    other = np.asarray(augment(image, config, np.random.default_rng(8)))
    assert (first == again).all()
    assert not (first == other).all()


def test_strength_zero_changes_nothing():
    image = text_image(mode="L")
    out = augment(image, AugmentConfig().scaled(0.0), np.random.default_rng(3))
    assert np.abs(np.asarray(out, np.int16) - np.asarray(image, np.int16)).max() <= 1


def test_augmentation_changes_pixels_but_keeps_the_text_visible():
    image = text_image(mode="L")
    originals = np.asarray(image, np.float64)
    for seed in range(10):
        out = np.asarray(augment(image, AugmentConfig(), np.random.default_rng(seed)), np.float64)
        assert out.std() > 0.5 * originals.std()  # strokes still stand out from the background


def test_dataset_items_are_augmented_per_epoch_with_labels_unchanged(mode_files):
    samples = [Sample(mode_files["grey"], "AB12"), Sample(mode_files["rgba"], "京A12345")]
    plain = ImageDataset(samples, SPEC)
    epoch0 = ImageDataset(samples, SPEC, AugmentConfig(), seed=1, epoch=0)
    epoch0_again = ImageDataset(samples, SPEC, AugmentConfig(), seed=1, epoch=0)
    epoch1 = ImageDataset(samples, SPEC, AugmentConfig(), seed=1, epoch=1)
    for index, sample in enumerate(samples):
        image, label = epoch0[index]
        assert label == sample.label == plain[index][1]
        assert image.shape == plain[index][0].shape == (1, 64, 128)
        assert (image == epoch0_again[index][0]).all()
        assert not (image == epoch1[index][0]).all()


def test_augment_preview_draws_a_grid(cli, tmp_path, mode_files):
    folder = tmp_path / "named"
    folder.mkdir()
    for number, kind in enumerate(["rgba", "tiny", "sixteen_bit"]):
        (folder / f"AB{number}_x7f.png").write_bytes(mode_files[kind].read_bytes())
    assert [s.label for s in read_samples(folder)] == ["AB0", "AB1", "AB2"]
    out = tmp_path / "grid.png"
    result = cli("augment-preview", folder, "--out", out, "--variants", 4, "--rows", 2)
    assert result.code == 0, result.err
    grid = Image.open(out)
    assert grid.width > 5 * 200  # original + 4 variants side by side
    assert 2 * 50 < grid.height < 3 * 70 + 20  # two rows of 200-wide text images


def test_bad_strength_is_refused():
    with pytest.raises(ValueError, match="strength"):
        AugmentConfig().scaled(-1)
