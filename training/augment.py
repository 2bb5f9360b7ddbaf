"""Random distortions of digit batches in plain torch (no torchvision): pen, affine, elastic."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """How far each random distortion goes; every image draws its own values."""

    max_rotation_deg: float = 20.0
    scale_range: tuple[float, float] = (0.78, 1.22)
    max_aspect: float = 0.1  # x and y scales differ by up to this fraction
    max_shear: float = 0.15
    max_shift_px: float = 3.5
    elastic_share: float = 0.5  # share of images that also get an elastic distortion
    elastic_px: float = 1.5  # largest displacement of the smooth random field, pixels
    stroke_share: float = 0.5  # share of images whose pen is made thicker or thinner
    contrast_share: float = 0.2  # share of images dimmed to 0.6-1.0 of their brightness

    def describe(self) -> str:
        """Return one line for the card and the metadata."""
        return (
            f"per image: stroke width (dilate/erode blend, {self.stroke_share:.0%}), "
            f"rotation +/-{self.max_rotation_deg:g} deg, scale {self.scale_range[0]:g}-"
            f"{self.scale_range[1]:g} (aspect +/-{self.max_aspect:g}), shear +/-"
            f"{self.max_shear:g}, shift +/-{self.max_shift_px:g} px, elastic field up to "
            f"{self.elastic_px:g} px ({self.elastic_share:.0%}), "
            f"dimming to 0.6-1 ({self.contrast_share:.0%})"
        )


def _uniform(shape: tuple[int, ...], low: float, high: float, g: torch.Generator) -> torch.Tensor:
    """Return uniform samples in [low, high)."""
    return torch.rand(shape, generator=g) * (high - low) + low


def change_stroke(images: torch.Tensor, share: float, g: torch.Generator) -> torch.Tensor:
    """Blend `share` of the images towards a 3x3 dilation (thicker) or erosion (thinner)."""
    n = len(images)
    dilated = F.max_pool2d(images, 3, 1, 1)
    eroded = -F.max_pool2d(-images, 3, 1, 1)
    amount = _uniform((n, 1, 1, 1), 0.0, 1.0, g) * (torch.rand(n, 1, 1, 1, generator=g) < share)
    thicker = torch.rand(n, 1, 1, 1, generator=g) < 0.5
    # Erosion can wipe out a thin stroke, so it goes at most half way.
    target = torch.where(thicker, dilated, eroded)
    amount = torch.where(thicker, amount, amount * 0.5)
    return images + amount * (target - images)


def affine_grid(n: int, size: int, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """Return sampling grids (N, H, W, 2) for a random rotation, scale, shear and shift each."""
    angle = _uniform((n,), -1, 1, g) * math.radians(aug.max_rotation_deg)
    scale = _uniform((n,), *aug.scale_range, g)
    aspect = 1 + _uniform((n,), -aug.max_aspect, aug.max_aspect, g)
    shear = _uniform((n,), -aug.max_shear, aug.max_shear, g)
    shift = _uniform((n, 2), -aug.max_shift_px, aug.max_shift_px, g) * (2.0 / size)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps output to input coordinates, so it holds the inverse scale.
    sx, sy = 1 / (scale * aspect), 1 / (scale / aspect)
    theta = torch.stack([
        torch.stack([cos * sx, (-sin + shear) * sx, shift[:, 0]], 1),
        torch.stack([sin * sy, cos * sy, shift[:, 1]], 1),
    ], 1)
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def elastic_field(n: int, size: int, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """Return smooth random displacements (N, H, W, 2) in grid units for a share of images."""
    coarse = torch.randn(n, 2, 4, 4, generator=g)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    field = field / field.abs().amax((1, 2, 3), keepdim=True).clamp_min(1e-6)
    amplitude = _uniform((n, 1, 1, 1), 0.0, aug.elastic_px, g) * (2.0 / size)
    chosen = torch.rand(n, 1, 1, 1, generator=g) < aug.elastic_share
    return (field * amplitude * chosen).permute(0, 2, 3, 1)


def augment(images: torch.Tensor, g: torch.Generator, aug: Augmentation) -> torch.Tensor:
    """Return a distorted copy of `images` (N, 1, 28, 28) in [0, 1]; one resampling per image."""
    n, _, size, _ = images.shape
    x = change_stroke(images, aug.stroke_share, g)
    grid = affine_grid(n, size, aug, g) + elastic_field(n, size, aug, g)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    dim = torch.where(torch.rand(n, 1, 1, 1, generator=g) < aug.contrast_share,
                      _uniform((n, 1, 1, 1), 0.6, 1.0, g), torch.ones(n, 1, 1, 1))
    return (x * dim).clamp(0.0, 1.0)
