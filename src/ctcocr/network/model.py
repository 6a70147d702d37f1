"""The network: a CNN that reads along the x axis, optionally followed by a BiLSTM (CRNN).

    image (B, C, H, W)
      -> backbone: conv stages; every stage halves H, the first few also halve W
      -> feature map (B, D, 1, T): height 1, width T, one column per time step
      -> cnn:  a classifier per column
         crnn: a bidirectional LSTM over the T columns, then the classifier
      -> logits (B, T, num_classes), class 0 = CTC blank

CTC needs T >= 2 * (longest label) + 1: a blank at both ends and between repeated characters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ctcocr.core.config import ModelConfig, PreprocessConfig


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Backbone(nn.Module):
    """Conv stages that turn (B, C, H, W) into (B, features, T): height 1, width T.

    The first conv has stride 2 and every stage ends in a max-pool, so the full-resolution
    image is touched by one cheap conv only: on a CPU, early high-resolution layers cost most.
    Each pool halves the height; the first few also halve the width, until it equals T.
    """

    def __init__(self, config: ModelConfig, preprocess: PreprocessConfig) -> None:
        super().__init__()
        halvings = config.width_halvings(preprocess.width)
        layers: list[nn.Module] = []
        channels: int = preprocess.channels
        height = preprocess.height
        for stage, (width, depth) in enumerate(zip(config.widths, config.depths, strict=True)):
            for layer in range(depth):
                stride = 2 if (stage, layer) == (0, 0) else 1
                layers.append(conv_block(channels, width, stride))
                channels = width
                height = (height + stride - 1) // stride
            pool_h = 2 if height >= 2 else 1
            pool_w = 2 if stage + 1 < halvings else 1  # the stem's stride was the first halving
            layers.append(nn.MaxPool2d((pool_h, pool_w)))
            height //= pool_h
        self.convs = nn.Sequential(*layers)
        # A convolution spanning the whole remaining height collapses it to 1 while keeping
        # where on the column each stroke was (a plain average over H would lose that).
        self.collapse = nn.Sequential(
            nn.Conv2d(channels, config.features, (height, 1), bias=False),
            nn.BatchNorm2d(config.features),
            nn.ReLU(inplace=True),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.convs(images)  # (B, C, H', T)
        x = self.collapse(x)  # (B, features, 1, T)
        # squeeze, not flatten: the ONNX graph then needs no run-time Shape/Slice/Concat/Reshape
        return x.squeeze(2)  # (B, features, T)


class Network(nn.Module):
    """Backbone, an optional BiLSTM, and a per-column classifier over charset + blank."""

    def __init__(self, config: ModelConfig, preprocess: PreprocessConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config, preprocess)
        self.dropout = nn.Dropout(config.dropout)
        if config.architecture == "crnn":
            self.rnn: nn.LSTM | None = nn.LSTM(
                config.features, config.hidden, batch_first=True, bidirectional=True
            )
            head_in = 2 * config.hidden
        else:
            self.rnn = None
            head_in = config.features
        self.classifier = nn.Linear(head_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, T, num_classes)."""
        x = self.backbone(images).transpose(1, 2)  # (B, features, T) -> (B, T, features)
        x = self.dropout(x)
        if self.rnn is not None:
            x, _ = self.rnn(x)  # (B, T, 2 * hidden)
        return self.classifier(x)


def set_blank_prior(network: Network, blank_share: float) -> None:
    """Start the classifier at the blank rate CTC will settle on, instead of uniform.

    With uniform outputs the first CTC gradients push every column towards blank, and the
    network then sits on the all-blank plateau (loss ~3.3 on captcha_images_v2) for a long
    time: a CRNN with augmentation was still there after 70 steps. With the blank's bias set
    so that p(blank) = blank_share (about (T - L) / T) at the start, the same run left it
    within 30 steps. Only the bias moves; the other classes stay equally likely.
    """
    share = min(max(blank_share, 0.05), 0.98)
    others = network.classifier.out_features - 1
    with torch.no_grad():
        network.classifier.bias.zero_()
        network.classifier.bias[0] = math.log(share * others / (1.0 - share))


def ctc_loss(
    logits: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """Mean CTC loss. logits (B, T, C); targets (sum of lengths,) concatenated; blank = 0."""
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, C)
    input_lengths = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long)
    return F.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank=0, zero_infinity=True
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
