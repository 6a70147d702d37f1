"""Training in two CPU processes (torchrun, gloo): one model, written once, loadable alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ctcocr import Recognizer
from ctcocr.core.config import TrainConfig
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import read_metrics
from ctcocr.training import distributed
from ctcocr.training.distributed import Context, context_from_env, sampler

SMALL_MODEL = ("--widths", "8,16,16,16", "--features", "32", "--hidden", "16")

# Runs `ctcocr train` in each rank, keeping hold of the Trainer so that the test can compare
# what every rank ends with; only rank 0 writes the run folder.
RANK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    import ctcocr.training.loop
    from ctcocr.cli.main import main

    torch.set_num_threads(1)
    made = []

    class Kept(ctcocr.training.loop.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    ctcocr.training.loop.Trainer = Kept
    code = main(sys.argv[2:])
    state = made[0].network.state_dict()
    torch.save(state, os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.pt"))
    sys.exit(code)
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def torchrun(tmp_path: Path, *train_args: object) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    src = Path(__file__).parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    command += [str(script), str(tmp_path), "train", *map(str, train_args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


TRAIN = ("--batch-size", "8", "--workers", "0", "--device", "cpu", "--model", "cnn",
         "--min-epoch-images", "0", "--no-init", *SMALL_MODEL)  # fmt: skip


def test_two_ranks_stop_together_with_one_model(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    # A time budget: the ranks must agree on the step where it runs out, or they deadlock.
    result = torchrun(tmp_path, tiny_dataset, "--out", run, "--max-minutes", "0.05", *TRAIN)
    assert result.returncode == 0, result.stderr[-3000:]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # parameters and BatchNorm statistics alike
        assert torch.equal(rank0[name], rank1[name]), name

    assert result.stdout.count("training cnn") == 1  # rank 0 speaks, rank 1 is silent
    epochs = read_metrics(run)
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))  # one writer
    reader = Recognizer(run)  # the run loads in a single process
    image = next((tiny_dataset / "images").iterdir())
    assert isinstance(reader.predict(image).text, str)


@pytest.mark.slow
def test_two_ranks_resume(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    first = torchrun(tmp_path, tiny_dataset, "--out", run, "--epochs", "2", *TRAIN)
    assert first.returncode == 0, first.stderr[-3000:]
    more = torchrun(tmp_path, tiny_dataset, "--out", run, "--epochs", "3", "--resume", *TRAIN)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "after epoch 2" in more.stdout
    assert [e["epoch"] for e in read_metrics(run)] == [1, 2, 3]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)


def test_without_torchrun_one_process():
    assert context_from_env({}) == Context()
    assert not Context().distributed and Context().agree(1.5) == 1.5
    assert Context().gather(["a"]) == ["a"]


@pytest.mark.parametrize(
    ("cores", "threads", "workers", "files", "split"),
    [
        (2, 0, -1, True, (1, 1)),  # files on 2 cores: one thread beside one loader process
        (2, 0, -1, False, (2, 1)),  # a synthetic stream: both cores to the network
        (2, 0, 0, True, (2, 0)),  # --workers 0: the network reads and trains on every core
        (2, 0, 3, True, (1, 3)),  # asked for: kept, the network still gets a thread
        (2, 2, -1, True, (2, 1)),  # --threads 2: as asked
        (2, 1, 2, False, (1, 2)),
        (1, 0, -1, True, (1, 1)),
        (16, 0, -1, True, (8, 8)),
        (16, 0, -1, False, (16, 15)),
    ],
)
def test_files_split_the_cores_between_loader_and_network(
    monkeypatch, cores: int, threads: int, workers: int, files: bool, split: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(distributed, "_usable_cores", lambda: cores)
    assert Context().cpu_split(threads, workers, files) == split
    with pytest.raises(ConfigError, match="threads=-1: use 0"):
        TrainConfig(threads=-1)


def test_torchrun_variables_read():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert context_from_env(env) == Context(3, 4, 1, 2)
    with pytest.raises(ConfigError, match="WORLD_SIZE"):
        context_from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_ranks_split_validation_once_and_draw_other_images():
    ranks = [Context(r, 3, r, 3) for r in range(3)]
    data = list(range(10))
    splits = [sampler(data, c, shuffle=False, seed=0, epoch=0) for c in ranks]  # type: ignore[arg-type]
    assert sorted(i for split in splits for i in split) == data  # every item scored once
    seeds = {c.stream_seed(7) for c in ranks}
    assert len(seeds) == 3 and ranks[0].stream_seed(7) == 7  # rank 0 = one-process seed
    assert ranks[0].share(10) == 4  # 3 ranks x 4 >= an epoch of 10, equal on every rank
    assert ranks[1].cpu_threads() == max(1, (os.cpu_count() or 1) // 3)
