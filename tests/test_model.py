import pytest
import torch

from ctcocr.core.config import ModelConfig, PreprocessConfig
from ctcocr.core.errors import ConfigError
from ctcocr.network.model import Network, ctc_loss


@pytest.mark.parametrize("architecture", ["cnn", "crnn"])
@pytest.mark.parametrize(
    ("width", "height", "channels", "time_steps"),
    [(128, 64, 1, 16), (128, 64, 1, 32), (200, 50, 3, 25), (94, 24, 3, 47), (256, 32, 1, 64)],
)
def test_output_is_one_row_of_t_columns(architecture, width, height, channels, time_steps):
    config = ModelConfig(architecture, time_steps)
    network = Network(config, PreprocessConfig(width, height, channels), num_classes=11)
    logits = network(torch.zeros(3, channels, height, width))
    assert logits.shape == (3, time_steps, 11)


def test_time_steps_must_divide_the_width_by_a_power_of_two():
    with pytest.raises(ConfigError, match="time-steps"):
        Network(ModelConfig("cnn", 20), PreprocessConfig(128, 64, 1), num_classes=5)


def test_max_label_length_follows_ctc_rule():
    assert ModelConfig(time_steps=16).max_label_length() == 7  # 2 * 7 + 1 = 15 <= 16
    assert ModelConfig(time_steps=13).max_label_length() == 6


def test_ctc_loss_is_finite_and_differentiable():
    network = Network(ModelConfig("crnn", 16), PreprocessConfig(), num_classes=5)
    logits = network(torch.randn(2, 1, 64, 128))
    loss = ctc_loss(logits, torch.tensor([1, 2, 2, 3, 4, 1, 1]), torch.tensor([4, 3]))
    loss.backward()
    assert torch.isfinite(loss)
