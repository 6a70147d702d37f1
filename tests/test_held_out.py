"""How many labelled images are held out for validation when no --val is given: 10%, or none
when fine-tuning on fewer than HOLD_OUT_FROM images (then every image trains, the last epoch
is kept and the confidence is left uncalibrated, each said in the log)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FAST

from ctcocr.core.config import DEFAULT_VAL_FRACTION, HOLD_OUT_FROM, TrainConfig
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import read_spec
from ctcocr.data.samples import Sample
from ctcocr.evaluation.temperature import save_temperature
from ctcocr.training.prepare import held_out, val_share


def _samples(count: int) -> list[Sample]:
    return [Sample(Path(f"/nowhere/{i}.png"), f"{i:04d}") for i in range(count)]


def test_the_share_is_none_only_when_fine_tuning_a_few_images_unless_given() -> None:
    default = TrainConfig()
    assert val_share(default, HOLD_OUT_FROM - 1, fine_tuning=True) == 0.0
    assert val_share(default, HOLD_OUT_FROM, fine_tuning=True) == DEFAULT_VAL_FRACTION
    assert val_share(default, 50, fine_tuning=False) == DEFAULT_VAL_FRACTION  # from scratch
    assert val_share(TrainConfig(val_fraction=0.2), 50, fine_tuning=True) == 0.2
    assert val_share(TrainConfig(val_fraction=0), 5000, fine_tuning=False) == 0.0


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_a_share_outside_zero_to_below_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigError, match=f"val_fraction={share}"):
        TrainConfig(val_fraction=share)


def test_held_out_says_why_nothing_is_held_out() -> None:
    lines: list[str] = []
    samples = _samples(50)
    train, val = held_out(samples, TrainConfig(), fine_tuning=True, log=lines.append)
    assert (train, val) == (samples, [])
    assert "fine-tuning on fewer than 200 images" in lines[-1]
    assert "none of the 50 images is held out" in lines[-1]
    assert "--val-fraction 0.1" in lines[-1]  # how to hold some out
    train, val = held_out(samples, TrainConfig(val_fraction=0), fine_tuning=False, log=lines.append)
    assert val == [] and "--val-fraction 0" in lines[-1]
    train, val = held_out(samples, TrainConfig(), fine_tuning=False, log=lines.append)
    assert (len(train), len(val)) == (45, 5) and "held out 5 of 50 images" in lines[-1]
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(samples)


def test_fine_tuning_a_few_images_trains_on_all_and_keeps_the_last_epoch(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    start_run = tmp_path / "start"
    shutil.copytree(tiny_run, start_run)
    save_temperature(start_run, read_spec(start_run), 0.7)  # a temperature of its own
    out = tmp_path / "tuned"
    result = cli(
        "train", tiny_dataset, "--init", start_run, "--out", out, *FAST[2:], "--epochs", "2"
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "none of the 48 images is held out" in result.out
    assert "(saved)" in result.out and "(best, saved)" not in result.out
    assert "no images held out: kept the last epoch, 2" in result.out
    start = 0.7
    assert "confidence temperature 0.7, the starting model's" in result.out
    assert f"ctcocr calibrate {out}" in result.out
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert all("val_loss" not in line and "sequence_accuracy" not in line for line in lines)
    stored = json.loads((out / "config.json").read_text())
    assert stored["temperature"] == start
    assert (stored["training"]["data"]["train"], stored["training"]["data"]["val"]) == (48, 0)
    assert (out / "model.safetensors").is_file() and (out / "training.png").is_file()
    # the run reads: the same command as any other
    assert cli("evaluate", out, tiny_dataset).code == 0


def test_a_held_out_share_given_is_held_out_when_fine_tuning(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned"
    result = cli(
        "train", tiny_dataset, "--init", tiny_run, "--out", out, "--val-fraction", "0.1", *FAST
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "held out 5 of 48 images" in result.out and "best validation" in result.out
    assert "confidence temperature" in result.out


def test_patience_without_held_out_images_is_refused(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned"
    result = cli(
        "train", tiny_dataset, "--init", tiny_run, "--out", out, "--patience", "2", *FAST
    )  # fmt: skip
    assert result.code != 0
    assert "--patience 2" in result.err and "--val DATA or --val-fraction 0.1" in result.err
    assert not (out / "model.safetensors").exists()


def test_a_run_without_validation_resumes_and_keeps_its_last_epoch(
    cli, tiny_dataset: Path, tiny_run: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tuned"
    first = cli("train", tiny_dataset, "--init", tiny_run, "--out", out, *FAST[2:], "--epochs", "2")
    assert first.code == 0, first.err
    again = cli(
        "train", tiny_dataset, "--init", tiny_run, "--out", out, "--resume", *FAST[2:],
        "--epochs", "3",
    )  # fmt: skip
    assert again.code == 0, again.err
    assert "resuming" in again.out and "kept the last epoch, 3" in again.out


def test_compare_with_nothing_held_out_and_no_test_stops_before_training(
    cli, tiny_dataset: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "compare"
    result = cli("compare", tiny_dataset, "--models", "cnn", "--out", out, "--val-fraction", "0")
    assert result.code != 0
    assert "--val-fraction 0" in result.err and "--test DATA" in result.err
    assert not (out / "cnn").exists()


def test_from_scratch_with_nothing_held_out_the_confidence_stays_uncalibrated(
    cli, tiny_dataset: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "scratch"
    result = cli("train", tiny_dataset, "--out", out, "--val-fraction", "0", *FAST)
    assert result.code == 0, result.err
    assert "--val-fraction 0: none of the 48 images is held out" in result.out
    assert "confidence not calibrated (no images held out)" in result.out
    assert json.loads((out / "config.json").read_text())["temperature"] == 1.0
