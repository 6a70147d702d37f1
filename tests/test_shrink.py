"""A smaller network from a trained one: `--init RUN` with fewer layers (`--depths`) or fewer
channels (`--widths`) per stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_bad_input import FAST, SMALL_MODEL, assert_fails

from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import RunSpec
from ctcocr.network.weights import build_network
from ctcocr.training.shrink import _relu_rms, conv_positions, drop_layers, narrow_channels

WIDE = (8, 16, 16, 24)
NARROW = (8, 12, 16, 16)
DEPTHS = (1, 2, 1, 2)


def spec(widths: tuple[int, ...]) -> RunSpec:
    model = ModelConfig("cnn", 16, widths=widths, depths=DEPTHS, features=32)
    return RunSpec(Charset("0123456789"), PreprocessConfig(64, 32), model)


def silence(state: dict[str, torch.Tensor], block: int, channels: list[int]) -> None:
    """Make conv block `block`'s `channels` pass nothing on: batch norm gamma and beta 0, so
    that the ReLU outputs exactly 0 whatever the convolution computed."""
    state[f"backbone.convs.{block}.1.weight"][channels] = 0.0
    state[f"backbone.convs.{block}.1.bias"][channels] = 0.0


def test_dropping_channels_that_pass_nothing_on_computes_the_same():
    torch.manual_seed(0)
    wide = build_network(spec(WIDE)).eval()
    state = {name: tensor.clone() for name, tensor in wide.state_dict().items()}
    for name, tensor in state.items():  # batch norms that are not the identity
        if name.endswith(".1.weight"):
            tensor.uniform_(0.5, 1.5)
        elif name.endswith(".1.bias"):
            tensor.uniform_(-0.2, 0.2)
        elif name.endswith("running_var"):
            tensor.uniform_(0.5, 2.0)
    positions = conv_positions(DEPTHS)
    silent = {positions[1, 0]: [0, 5, 9, 15], positions[1, 1]: [1, 2, 3, 14]}
    silent |= {positions[3, 0]: [0, 7, 8, 9, 10, 11, 20, 23]}
    silent |= {positions[3, 1]: [2, 4, 6, 8, 10, 12, 14, 16]}
    for block, channels in silent.items():
        silence(state, block, channels)
    wide.load_state_dict(state)

    kept, lines = narrow_channels(state, WIDE, NARROW, DEPTHS, Path("wide"))

    assert lines == ["stage 2: 16 -> 12 channels", "stage 4: 24 -> 16 channels"]
    narrow = build_network(spec(NARROW)).eval()
    narrow.load_state_dict(kept)  # every shape fits the narrower network
    images = torch.randn(3, 1, 32, 64)
    with torch.no_grad():
        assert torch.allclose(narrow(images), wide(images), atol=1e-5)
    block = positions[1, 0]
    expected = [c for c in range(16) if c not in silent[block]]
    assert torch.equal(
        kept[f"backbone.convs.{block}.0.weight"],
        state[f"backbone.convs.{block}.0.weight"][expected],
    )
    # stage 3 keeps its 16 outputs but reads only stage 2's 12 kept channels
    assert kept[f"backbone.convs.{positions[2, 0]}.0.weight"].shape == (16, 12, 3, 3)
    assert kept["backbone.collapse.0.weight"].shape[1] == 16


def test_the_same_widths_change_nothing_and_wider_ones_are_refused():
    state = build_network(spec(WIDE)).state_dict()
    assert narrow_channels(state, WIDE, WIDE, DEPTHS, Path("wide")) == (state, [])
    with pytest.raises(
        ConfigError, match=r"--init wide: --widths 8,32,16,24 has more channels in stage 2"
    ):
        narrow_channels(state, WIDE, (8, 32, 16, 24), DEPTHS, Path("wide"))


@pytest.mark.parametrize(
    ("flag", "start", "smaller", "copied", "larger", "refusal"),
    [
        ("--depths", "1,2,1,2", "1,1,1,1", "backbone copied without stage 2 layer 2, stage 4 "
         "layer 2", "2,1,1,1", "more layers in stage 1"),
        ("--widths", "8,16,16,16", "8,12,16,8", "narrowed (stage 2: 16 -> 12 channels; stage 4: "
         "16 -> 8 channels", "8,16,16,16", "more channels in stage 2, 4"),
    ],
)  # fmt: skip
def test_a_smaller_network_starts_from_the_init_run(
    cli, tiny_dataset, tmp_path, flag, start, smaller, copied, larger, refusal
):
    big = tmp_path / "big"
    result = cli("train", tiny_dataset, "--out", big, flag, start, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    out = tmp_path / "small"
    result = cli("train", tiny_dataset, "--init", big, flag, smaller, "--out", out, *FAST)
    assert result.code == 0, result.err
    assert copied in result.out
    config = json.loads((out / "config.json").read_text("utf-8"))
    assert config["model"][flag[2:]] == [int(n) for n in smaller.split(",")]
    result = cli("train", tiny_dataset, "--init", out, flag, larger, "--out", tmp_path / "x", *FAST)
    assert_fails(result, str(out), refusal, "drop --init")


def test_init_with_fewer_layers_keeps_the_first_of_each_stage():
    model = ModelConfig("cnn", 40, depths=(1, 1, 2, 2))
    deep = RunSpec(Charset("0123456789"), PreprocessConfig(160, 48), model)
    old = build_network(deep).state_dict()
    kept, dropped = drop_layers(old, (1, 1, 2, 2), (1, 1, 1, 1), Path("deep"))
    assert dropped == ["stage 3 layer 2", "stage 4 layer 2"]
    # convs: 0 conv, 1 pool, 2 conv, 3 pool, 4 conv, 5 conv (dropped), 6 pool, 7 conv, ...
    assert torch.equal(kept["backbone.convs.4.0.weight"], old["backbone.convs.4.0.weight"])
    assert torch.equal(kept["backbone.convs.6.0.weight"], old["backbone.convs.7.0.weight"])
    assert torch.equal(kept["backbone.collapse.0.weight"], old["backbone.collapse.0.weight"])
    shallow = RunSpec(deep.charset, deep.preprocess, ModelConfig("cnn", 40, depths=(1, 1, 1, 1)))
    assert set(kept) == set(build_network(shallow).state_dict())
    assert drop_layers(old, (1, 1, 2, 2), (1, 1, 2, 2), Path("deep")) == (old, [])
    with pytest.raises(
        ConfigError, match=r"--init deep: --depths 1,2,2,2 has more layers in stage 2"
    ):
        drop_layers(old, (1, 1, 2, 2), (1, 2, 2, 2), Path("deep"))


@pytest.mark.parametrize(("mean", "spread"), [(0.0, 1.0), (1.5, 0.5), (-1.0, 2.0), (-3.0, 0.2)])
def test_a_channel_s_share_is_the_rms_of_its_relu(mean, spread):
    samples = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0)) * spread + mean
    expected = float(samples.clamp(min=0).pow(2).mean().sqrt())
    assert _relu_rms(mean, spread) == pytest.approx(expected, rel=0.01, abs=1e-4)
