"""The small CNN that classifies 28x28 digits, and its softmax wrapper for export."""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE = (
    "CNN: conv3x3 8, maxpool, conv3x3 16, maxpool, conv3x3 32, maxpool (each conv BN+ReLU), "
    "dropout 0.3, linear 288-10, softmax; about 0.5M multiply-adds per image"
)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    """Return a 3x3 same-padding conv + BatchNorm + ReLU (BN makes a conv bias redundant)."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitNet(nn.Module):
    """Map a batch (N, 1, 28, 28) of pixels in [0, 1] to class logits (N, 10)."""

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        # Pool after every conv so that most of the work runs on small maps: inference cost,
        # not accuracy, is what limits a CPU server (a conv at 28x28 costs 16x one at 7x7).
        self.features = nn.Sequential(
            *_conv(1, 8),
            nn.MaxPool2d(2),  # 28 -> 14
            *_conv(8, 16),
            nn.MaxPool2d(2),  # 14 -> 7
            *_conv(16, 32),
            nn.MaxPool2d(2),  # 7 -> 3
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(32 * 3 * 3, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of images."""
        logits: torch.Tensor = self.head(self.features(x))
        return logits


class DigitProbabilities(nn.Module):
    """Wrap a DigitNet so the exported graph ends in softmax and the server only argmaxes."""

    def __init__(self, net: DigitNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Return class probabilities (N, 10); `image` names the ONNX input."""
        return torch.softmax(self.net(image), dim=1)


def count_parameters(model: nn.Module) -> int:
    """Count trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
