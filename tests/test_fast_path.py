"""The GPU fast path: --compile (tested on the CPU, slow), and CUDA training where a GPU exists."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from ctcocr import Recognizer
from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig, TrainConfig
from ctcocr.core.run_folder import RunSpec
from ctcocr.data.samples import read_samples
from ctcocr.training.distributed import Context, wrap
from ctcocr.training.loaders import TrainingData
from ctcocr.training.loop import fit
from ctcocr.training.trainer import _autocast

TINY = ModelConfig("cnn", 16, widths=(8, 16, 16), depths=(1, 1, 1), features=16)


def _fit(folder, dataset, **config):
    samples = read_samples(dataset)[:16]
    chars = Charset.from_labels(s.label for s in samples)
    spec = RunSpec(chars, PreprocessConfig(64, 32, 1), TINY)
    settings = TrainConfig(epochs=1, batch_size=8, workers=0, min_epoch_images=0, **config)
    return fit(folder, spec, TrainingData(val=samples, train=samples), settings, log=print)


def test_one_process_trains_the_plain_network(one_torch_thread):
    network = torch.nn.Linear(2, 2)
    assert wrap(network, Context(), torch.device("cpu"), compile=False, seed=0) is network


def test_amp_is_off_by_default_and_never_on_a_cpu():
    assert TrainConfig().amp is False  # float32 measured faster for the default on a GPU
    with _autocast(torch.device("cpu"), enabled=True):
        assert not torch.is_autocast_enabled("cpu")  # bf16 on an AVX2 CPU measured 10x slower


@pytest.mark.slow  # compiling takes about a minute of CPU
def test_compiled_training_saves_plain_weights(tiny_dataset, tmp_path, one_torch_thread):
    _fit(tmp_path, tiny_dataset, compile=True)
    weights = load_file(str(tmp_path / "model.safetensors"))
    assert not any(name.startswith("_orig_mod") for name in weights)  # loads without compile
    assert isinstance(Recognizer(tmp_path).predict(read_samples(tiny_dataset)[0].path).text, str)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("compile", "amp"), [(False, True), (True, True), (False, False)])
def test_cuda_run_reads_on_the_cpu(tiny_dataset, tmp_path, compile, amp):
    progress = _fit(tmp_path, tiny_dataset, device="cuda", compile=compile, amp=amp)
    assert progress.step > 0
    weights = load_file(str(tmp_path / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    reader = Recognizer(tmp_path, device="cpu")
    assert isinstance(reader.predict(read_samples(tiny_dataset)[0].path).text, str)
