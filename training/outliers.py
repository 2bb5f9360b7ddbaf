"""Random images that are not digits, for outlier exposure (trained towards a uniform answer).

Drawn fresh every step from the training generator, never from training.evalsets, whose fixed
noise and dots images only measure the result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("uniform noise", "salt noise", "sparse dots", "shuffled digit", "smooth blobs", "flat")
DESCRIPTION = (
    "non-digit images drawn fresh each step, in equal shares: uniform noise (random "
    "brightness), salt noise (5-60% of pixels lit), sparse dots (1-120, some 2x2), a training "
    "digit with its pixels shuffled, smooth random blobs, flat grey images (0-1); target: the "
    "uniform distribution"
)


def _column(n: int, g: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Return one uniform value per image, shaped (N, 1, 1, 1)."""
    return torch.rand(n, 1, 1, 1, generator=g) * (high - low) + low


def uniform_noise(n: int, g: torch.Generator) -> torch.Tensor:
    """Return uniform noise whose brightest possible pixel is itself random."""
    return torch.rand(n, 1, 28, 28, generator=g) * _column(n, g, 0.2, 1.0)


def salt_noise(n: int, g: torch.Generator) -> torch.Tensor:
    """Return black images with a random 5-60% of pixels lit at random brightness."""
    lit = torch.rand(n, 1, 28, 28, generator=g) < _column(n, g, 0.05, 0.6)
    return lit * torch.rand(n, 1, 28, 28, generator=g)


def sparse_dots(n: int, g: torch.Generator) -> torch.Tensor:
    """Return black images with 1-120 bright dots, a third of them grown to 2x2."""
    count = torch.randint(1, 121, (n, 1, 1, 1), generator=g).float()
    dots = torch.rand(n, 1, 28, 28, generator=g) < count / 784
    dots = dots * _column(n, g, 0.3, 1.0) + dots * torch.rand(n, 1, 28, 28, generator=g) * 0.3
    grown = F.max_pool2d(F.pad(dots, (0, 1, 0, 1)), 2, 1)
    return torch.where(torch.rand(n, 1, 1, 1, generator=g) < 1 / 3, grown, dots).clamp(0, 1)


def shuffled_digits(digits: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Return the digits with their pixels in a random order (same ink, no shape)."""
    n = len(digits)
    order = torch.argsort(torch.rand(n, 784, generator=g), dim=1)
    return torch.gather(digits.reshape(n, 784), 1, order).reshape(n, 1, 28, 28)


def smooth_blobs(n: int, g: torch.Generator) -> torch.Tensor:
    """Return upsampled coarse noise: large soft shapes, thresholded at a random level."""
    coarse = torch.rand(n, 1, 5, 5, generator=g)
    smooth = F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)
    return ((smooth - _column(n, g, 0.3, 0.8)) * 4).clamp(0, 1)


def flat(n: int, g: torch.Generator) -> torch.Tensor:
    """Return images of one grey level each, black and white included."""
    level = torch.rand(n, 1, 1, 1, generator=g)
    level = torch.where(level < 0.15, 0.0, torch.where(level > 0.85, 1.0, level))
    return level.expand(n, 1, 28, 28).clone()


def outliers(n: int, digits: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Return `n` non-digit images, about equal shares of each kind, in random order."""
    share = -(-n // len(KINDS))
    parts = [uniform_noise(share, g), salt_noise(share, g), sparse_dots(share, g),
             shuffled_digits(digits[:share], g), smooth_blobs(share, g), flat(share, g)]
    images = torch.cat(parts)
    return images[torch.randperm(len(images), generator=g)[:n]]
