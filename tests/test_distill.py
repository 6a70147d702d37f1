"""Distillation: `ctcocr train ... --teacher RUN` adds the per-column KL to the teacher."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from test_bad_input import FAST, SMALL_MODEL, assert_fails

from ctcocr.core.charset import Charset
from ctcocr.core.errors import ConfigError
from ctcocr.core.run_folder import read_spec
from ctcocr.training.distill import distillation_loss, load_teacher, teacher_run


def test_the_loss_is_zero_when_the_columns_agree_and_teaches_only_the_student():
    teacher = torch.randn(2, 8, 5)
    same = teacher.clone().requires_grad_(True)
    assert distillation_loss(same, teacher, torch.tensor([3, 3])).item() == pytest.approx(
        0.0, abs=1e-6
    )
    student = torch.zeros(2, 8, 5, requires_grad=True)
    loss = distillation_loss(student, teacher, torch.tensor([2, 2]))
    # KL of each column, summed over the 8 columns, averaged over images, per label character
    p = teacher.softmax(-1)
    expected = (p * (p.log() - torch.log(torch.tensor(1 / 5)))).sum() / 2 / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_a_teacher_that_reads_other_columns_is_refused(tiny_run):
    spec = read_spec(tiny_run)
    assert teacher_run(str(tiny_run), spec) == tiny_run
    other = replace(spec, charset=Charset(spec.charset.chars + "z"))
    with pytest.raises(ConfigError, match=r"--teacher .*charset .*drop --teacher"):
        teacher_run(str(tiny_run), other)
    longer = replace(spec, model=replace(spec.model, time_steps=spec.model.time_steps * 2))
    with pytest.raises(ConfigError, match=r"T = 32 against 64"):
        teacher_run(str(tiny_run), longer)
    teacher = load_teacher(str(tiny_run), spec, torch.device("cpu"))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_train_with_a_teacher(cli, tiny_run, tiny_dataset, tmp_path):
    out = tmp_path / "student"
    result = cli("train", tiny_dataset, "--teacher", tiny_run, "--out", out, *FAST, *SMALL_MODEL)
    assert result.code == 0, result.err
    assert f"distilling from {tiny_run} (--teacher)" in result.out
    config = json.loads((out / "config.json").read_text("utf-8"))
    assert config["training"]["config"]["teacher"] == str(tiny_run)
    wrong = ("--teacher", tiny_run, "--size", "160x48", "--out", tmp_path / "x")
    result = cli("train", tiny_dataset, *wrong, *FAST, *SMALL_MODEL)
    assert_fails(result, "--teacher", "input 128x64", "160x48", "drop --teacher")
