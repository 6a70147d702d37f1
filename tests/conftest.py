"""Shared fixtures: one tiny synthetic dataset and one run trained on it, built once per session.

A model trained for one epoch on 43 images reads nothing useful: tests that use `tiny_run`
check the shape of what comes out (files, keys, types), never accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from ctcocr.cli.main import main
from ctcocr.data.synth import SynthConfig, write_dataset

# Flags that keep a training run to about a second on a busy 2-core CPU.
FAST = (
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--workers",
    "0",
    "--min-epoch-images",
    "0",
)
SMALL_MODEL = ("--widths", "8,16,16,16", "--features", "32", "--hidden", "16")


@pytest.fixture(scope="session", autouse=True)
def no_automatic_init() -> Iterator[None]:
    """Tests train the network they ask for: plain `ctcocr train DATA` would otherwise start
    from the shipped general model (tests/test_shipped.py tests that default on its own).
    Session-wide, so that the session's fixtures (tiny_run) are trained under it too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ctcocr.training.command.AUTO_INIT", False)
        yield


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def one_torch_thread() -> Iterator[None]:
    """Keep torch on one thread while these tests run.

    Training asks torch for one thread per core. On a machine whose cores are busy with
    something else, threads that spin-wait on each other make a 1-second epoch take 20 seconds,
    so the tests pin torch to one thread and restore the setting afterwards.
    """
    import torch

    real_set, before = torch.set_num_threads, torch.get_num_threads()
    real_set(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "set_num_threads", lambda n: None)
        yield
    real_set(before)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], one_torch_thread: None) -> Callable[..., CliResult]:
    """Run `ctcocr ARGS...` in this process -> (exit code, stdout, stderr)."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 synthetic CAPTCHAs of 4-5 characters: images/*.png and labels.csv."""
    path = tmp_path_factory.mktemp("data") / "tiny"
    return write_dataset(path, 48, SynthConfig(min_length=4, max_length=5), seed=1)


@pytest.fixture(scope="session")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_dataset: Path,
    one_torch_thread: None,
    no_automatic_init: None,
) -> Path:
    """A run folder trained for one epoch on `tiny_dataset` (default crnn). Do not modify."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(["train", str(tiny_dataset), "--out", str(run), *FAST])
    assert code == 0
    return run


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """`tiny_run` exported to float ONNX. Do not modify."""
    from ctcocr.export.onnx_export import export_onnx

    return export_onnx(tiny_run, tmp_path_factory.mktemp("onnx") / "tiny.onnx").path
