"""`ctcocr pack` writes WebDataset shards; `ctcocr train` streams them like any dataset."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest
import torch

from ctcocr import Recognizer
from ctcocr.core.config import PreprocessConfig
from ctcocr.core.errors import DataError, ImageError
from ctcocr.core.run_folder import read_spec
from ctcocr.data.images import preprocess
from ctcocr.data.packing import open_shards, read_shard
from ctcocr.training.distributed import Context
from ctcocr.training.shards import ShardStream

FAST = ("--epochs", "1", "--batch-size", "8", "--workers", "0")  # shards never repeat files
SMALL_MODEL = ("--widths", "8,16,16,16", "--features", "32", "--hidden", "16")


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_dataset):
    from ctcocr.data.packing import pack

    out = tmp_path_factory.mktemp("packed") / "shards"
    pack(tiny_dataset, out, shard_size=20)
    return out


def test_pack_keeps_every_image_and_label_as_stored(packed, tiny_dataset):
    index = json.loads((packed / "index.json").read_text())
    assert index["count"] == 48 and [s["count"] for s in index["shards"]] == [20, 20, 8]
    labels = dict(line.split(",") for line in (tiny_dataset / "labels.csv").read_text().split()[1:])
    records = [r for shard in sorted(packed.glob("*.tar")) for r in read_shard(shard)]
    stored = sorted((tiny_dataset / "images").iterdir())
    assert [(ext, data, label) for _, ext, data, label in records] == [
        ("png", path.read_bytes(), labels[f"images/{path.name}"]) for path in stored
    ]
    assert index["longest"] == max(map(len, labels.values()))


def test_pack_lists_bad_images_and_skips_them_when_asked(tiny_dataset, tmp_path, cli):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "images" / "000003.png").write_bytes(b"not a png")
    refused = cli("pack", data, tmp_path / "a")
    assert refused.code == 2 and "000003.png" in refused.err and "--skip-bad" in refused.err
    done = cli("pack", data, tmp_path / "b", "--skip-bad", "--shard-size", "100")
    assert done.code == 0 and "packed 47 images" in done.out and "left out 1" in done.out


def test_stream_reads_each_image_once_per_epoch_across_ranks(tiny_dataset, tmp_path):
    from ctcocr.data.packing import pack

    pack(tiny_dataset, tmp_path / "even", shard_size=12)  # 4 shards, 2 per rank
    shards = open_shards(tmp_path / "even")
    config = PreprocessConfig()
    seen = []
    for rank in range(2):
        stream = ShardStream(shards, config, seed=0, epoch=0, ranks=Context(rank, 2))
        items = list(stream)
        assert len(items) == len(stream) == 24  # equal shares keep DDP ranks in step
        seen += [label for _, label in items]
    everything = _all(tmp_path / "even")
    assert sorted(seen) == sorted(label for *_, label in everything)
    first, label = next(iter(ShardStream(shards, config, 0, 0, Context())))
    record = next(r for r in everything if r[3] == label)
    assert torch.equal(first, torch.from_numpy(preprocess(record[2], config)))  # one path


def _all(folder):
    return [r for shard in sorted(folder.glob("*.tar")) for r in read_shard(shard)]


def test_train_on_shards_holds_out_the_last_one(packed, tiny_dataset, tmp_path, cli):
    result = cli("train", packed, "--out", tmp_path / "run", *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert "held out the last shard" in result.out and "shard-000002.tar" in result.out
    training = read_spec(tmp_path / "run").training["data"]
    assert (training["train"], training["val"], training["shards"]) == (40, 8, 2)
    image = next((tiny_dataset / "images").iterdir())
    assert isinstance(Recognizer(tmp_path / "run").predict(image).text, str)


def test_train_on_a_shard_pattern_with_val(packed, tiny_dataset, tmp_path, cli):
    pattern = packed / "shard-{000000..000001}.tar"
    result = cli("train", pattern, "--val", tiny_dataset, "--out", tmp_path / "r", *FAST)
    assert result.code == 0, result.err
    assert read_spec(tmp_path / "r").training["data"]["train"] == 40


def test_a_bad_image_in_a_shard_is_named_in_one_line(packed, tmp_path, cli):
    broken = tmp_path / "broken"
    broken.mkdir()
    with tarfile.open(broken / "shard-000000.tar", "w") as tar:
        for name, data in [("000000001.png", b"not a png"), ("000000001.txt", b"AB12")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageError, match=r"000000001\.png"):
        list(
            ShardStream(
                open_shards(broken / "shard-000000.tar"), PreprocessConfig(), 0, 0, Context()
            )
        )
    shards = broken / "shard-*.tar"
    result = cli(
        "train",
        shards,
        "--val",
        packed,
        "--out",
        tmp_path / "r",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--workers",
        "1",
    )
    assert result.code == 2
    assert "000000001.png: not a readable image" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_one_shard_without_val_says_what_to_do(tiny_dataset, tmp_path, cli):
    from ctcocr.data.packing import pack

    pack(tiny_dataset, tmp_path / "one", shard_size=100)
    result = cli("train", tmp_path / "one", "--out", tmp_path / "r", *FAST)
    assert result.code == 2 and "--val" in result.err and "--shard-size" in result.err
    with pytest.raises(DataError, match="already holds packed shards"):
        pack(tiny_dataset, tmp_path / "one")


def test_flags_for_image_files_are_refused_on_shards(packed, tmp_path, cli):
    result = cli("train", packed, "--out", tmp_path / "run", "--repeat-rare", "0.1", *FAST)
    assert result.code != 0 and "--repeat-rare apply to image files only" in result.err
    assert not (tmp_path / "run" / "config.json").exists()


def test_rehearsal_is_refused_on_shards(packed, tmp_path, cli):
    result = cli("train", packed, "--out", tmp_path / "run", "--rehearse", "0.5", *FAST)
    assert result.code != 0 and "--rehearse apply to image files only" in result.err
