"""A tiny run that overfits 32 images in seconds, then reads them back through the public API."""

from pathlib import Path

import pytest

from ctcocr import Recognizer
from ctcocr.core.charset import Charset
from ctcocr.core.config import ModelConfig, PreprocessConfig, TrainConfig
from ctcocr.core.run_folder import read_metrics, read_spec
from ctcocr.data.samples import read_samples
from ctcocr.data.synth import SynthConfig, write_dataset
from ctcocr.training.loaders import TrainingData
from ctcocr.training.loop import fit
from ctcocr.training.trainer import learning_rate


@pytest.fixture(scope="module")
def easy_set(tmp_path_factory) -> Path:
    # Short labels from a small charset at a small size: learnable in seconds.
    folder = tmp_path_factory.mktemp("easy")
    return write_dataset(folder, 32, SynthConfig(64, 32, 2, 3, charset="0123"), seed=3)


@pytest.mark.parametrize("architecture", ["crnn", "cnn"])
def test_overfits_32_images_and_reads_them_back(easy_set, tmp_path, architecture):
    from ctcocr.core.run_folder import RunSpec

    samples = read_samples(easy_set)
    preprocess = PreprocessConfig(64, 32, 1)
    model = ModelConfig(
        architecture, 16, widths=(16, 32, 48), depths=(1, 1, 1), features=64, hidden=48, dropout=0.0
    )
    spec = RunSpec(Charset("0123"), preprocess, model)
    config = TrainConfig(
        epochs=60, batch_size=8, lr=5e-3, workers=0, weight_decay=0.0, min_epoch_images=0
    )
    progress = fit(
        tmp_path, spec, TrainingData(val=samples, train=samples), config, log=lambda _: None
    )

    assert progress.best_accuracy >= 0.9
    reader = Recognizer(tmp_path)
    predictions = reader.predict_batch([s.path for s in samples])
    correct = sum(p.text == s.label for p, s in zip(predictions, samples, strict=True))
    assert correct >= 0.9 * len(samples)
    assert read_spec(tmp_path).model.architecture == architecture
    assert len(read_metrics(tmp_path)) == 60
    assert (tmp_path / "training.png").stat().st_size > 0


def test_same_seed_same_weights_on_cpu(easy_set, tmp_path):
    from safetensors.torch import load_file

    from ctcocr.core.run_folder import RunSpec

    samples = read_samples(easy_set)
    spec = RunSpec(
        Charset("0123"),
        PreprocessConfig(64, 32, 1),
        ModelConfig("cnn", 16, widths=(8, 16, 16), depths=(1, 1, 1), features=16),
    )
    config = TrainConfig(epochs=2, batch_size=8, workers=0, min_epoch_images=0)
    weights = []
    for name in ("a", "b"):
        fit(tmp_path / name, spec, TrainingData(val=samples, train=samples), config, log=print)
        weights.append(load_file(str(tmp_path / name / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])


def test_schedule_warms_up_then_anneals():
    config = TrainConfig(lr=1e-3)
    assert learning_rate(0.0, config) < learning_rate(0.05, config) == pytest.approx(1e-3)
    assert learning_rate(1.0, config) < 1e-5
    assert learning_rate(0.5, config) < learning_rate(0.2, config)


@pytest.mark.parametrize("architecture", ["cnn", "crnn"])
def test_fresh_network_starts_at_the_blank_rate_ctc_settles_on(architecture):
    import torch

    from ctcocr.network.model import Network, set_blank_prior

    torch.manual_seed(0)
    network = Network(ModelConfig(architecture), PreprocessConfig(), num_classes=20).eval()
    set_blank_prior(network, 27 / 32)  # 5 characters in 32 columns
    with torch.no_grad():
        probabilities = network(torch.randn(4, 1, 64, 128)).softmax(-1)  # (B, T, C)
    assert abs(probabilities[..., 0].mean().item() - 27 / 32) < 0.1
    others = probabilities[..., 1:].mean(dim=(0, 1))
    assert others.max() < 2 * others.min()  # no character favoured at the start
