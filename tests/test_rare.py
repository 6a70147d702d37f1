"""Images holding rare characters are repeated in each training epoch; common sets are untouched."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import ConfigError
from ctcocr.data.rare import rare_note, repeat_factors, repeat_rare
from ctcocr.data.samples import Sample


def plates(common: int = 96, rare: int = 4) -> list[Sample]:
    """Most labels start with A; `rare` of them with the rare character Z."""
    labels = [("Z" if i < rare else "A") + str(i % 10) for i in range(common + rare)]
    return [Sample(Path(f"{i}.png"), label) for i, label in enumerate(labels)]


def test_a_character_on_a_small_share_of_images_gets_the_square_root_factor():
    factors = repeat_factors([s.label for s in plates()], threshold=0.09)
    assert factors[0] == pytest.approx((0.09 / 0.04) ** 0.5)  # Z is on 4% of the images: x1.5
    assert factors[50] == 1.0  # A (96%) and each digit (10%) are common


def test_rare_images_repeat_by_their_factor_and_each_epoch_is_seeded():
    samples = plates()
    epochs = [repeat_rare(samples, 0.09, seed=0, epoch=e) for e in range(200)]
    assert epochs[3] == repeat_rare(samples, 0.09, seed=0, epoch=3)  # the same run, the same list
    shown = Counter(s.path.name for epoch in epochs for s in epoch)
    assert shown["0.png"] / 200 == pytest.approx(1.5, abs=0.1)  # sqrt(0.09 / 0.04): once or twice
    assert shown["50.png"] == 200  # a common image: once an epoch


def test_sets_without_rare_characters_and_threshold_zero_are_left_alone():
    balanced = [Sample(Path(f"{i}.png"), "ABCD"[i % 4] + "EF") for i in range(40)]
    assert repeat_rare(balanced, 0.05, 0, 0) is balanced
    assert rare_note(balanced, 0.05) is None
    samples = plates()
    assert repeat_rare(samples, 0.0, 0, 0) is samples
    assert rare_note(samples, 0.0) is None


def test_the_training_log_names_the_rare_characters_and_the_switch():
    note = rare_note(plates(), 0.09)
    assert note is not None
    assert "'Z' x1.5" in note and "--repeat-rare 0" in note
    assert "~102 images instead of 100" in note


@pytest.mark.parametrize("value", [-0.1, 1.0, 2.0])
def test_a_threshold_outside_zero_to_one_is_refused(value):
    with pytest.raises(ConfigError, match="repeat_rare"):
        TrainConfig(repeat_rare=value)
