"""The small CNN that classifies 28x28 digits, and its softmax wrapper for export."""

from __future__ import annotations

import copy

import torch
from torch import nn

WIDTHS = (8, 16, 64)
ARCHITECTURE = (
    f"CNN: conv5x5 stride 2 {WIDTHS[0]} (28->14), conv3x3 {WIDTHS[1]}, maxpool (14->7), "
    f"conv3x3 {WIDTHS[2]}, maxpool (7->4, ceil), each conv BN+ReLU; dropout 0.2, linear "
    f"{WIDTHS[2] * 16}-10 (temperature folded in), softmax; about 0.73M multiply-adds per image"
)
MULTIPLY_ADDS = (14 * 14 * WIDTHS[0] * 25 + 14 * 14 * WIDTHS[1] * WIDTHS[0] * 9
                 + 7 * 7 * WIDTHS[2] * WIDTHS[1] * 9 + WIDTHS[2] * 16 * 10)


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    """Return a same-padding conv + BatchNorm + ReLU (BN makes a conv bias redundant)."""
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitNet(nn.Module):
    """Map a batch (N, 1, 28, 28) of pixels in [0, 1] to class logits (N, 10)."""

    def __init__(self, dropout: float = 0.2, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        a, b, c = widths
        # A strided 5x5 first conv does the work of conv + pool in one op, and the first map is
        # never written at 28x28: in onnxruntime it is the cheapest way down to 14x14. What
        # that saves pays for 64 channels in the last conv, where (on 4-fold cross-validation
        # of the training digits) width bought accuracy and 28x28 work did not.
        self.features = nn.Sequential(
            *_conv(1, a, kernel=5, stride=2),  # 28 -> 14
            *_conv(a, b),
            nn.MaxPool2d(2),  # 14 -> 7
            *_conv(b, c),
            # ceil_mode keeps the last row and column of the 7x7 map: an off-centre digit's
            # edge lands there.
            nn.MaxPool2d(2, ceil_mode=True),  # 7 -> 4
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits for a batch of images."""
        logits: torch.Tensor = self.head(self.features(x))
        return logits


def with_temperature(net: DigitNet, temperature: float) -> DigitNet:
    """Return a copy of `net` whose logits are divided by `temperature`, at no cost per call.

    The division is folded into the last linear layer's weights and bias, so the exported graph
    has exactly the ops of the uncalibrated one.
    """
    scaled = copy.deepcopy(net).eval()
    linear = scaled.head[-1]
    assert isinstance(linear, nn.Linear)
    with torch.no_grad():
        linear.weight /= temperature
        linear.bias /= temperature
    return scaled


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
