"""Random small rotations and shifts of digit batches, in plain torch (no torchvision)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_SHIFT_PX = 2.0
MAX_ROTATION_DEG = 10.0
DESCRIPTION = (
    f"random affine per image: shift up to +/-{MAX_SHIFT_PX:g} px in x and y, "
    f"rotation up to +/-{MAX_ROTATION_DEG:g} deg (bilinear, zero fill)"
)


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Return a copy of `images` (N, 1, H, W) with each image rotated and shifted at random."""
    n, _, h, w = images.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEG)
    # affine_grid works in [-1, 1] coordinates, so one pixel is 2 / size.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT_PX
    shift = shift * torch.tensor([2.0 / w, 2.0 / h])
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
