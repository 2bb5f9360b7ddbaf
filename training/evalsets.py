"""The fixed evaluation sets beside the held-out digits: transformed copy, noise, sparse dots.

Pure numpy (no torch, no scipy), so the tests, the card and perf build exactly the same images
from one seed. Every image is uint8 rows of 784 pixels, white on black, like the held-out file.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EVAL_SEED = 20261208
SIZE = 28
CENTRE = (SIZE - 1) / 2.0
MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.85, 1.15)
MAX_SHIFT_PX = 3.0
NOISE_COUNT = 1000
DOTS_COUNT = 1000
DOTS_RANGE = (5, 40)  # dots per image, inclusive
DOTS_MIN_VALUE = 128  # each dot's brightness is uniform in [DOTS_MIN_VALUE, 255]

TRANSFORM_DESCRIPTION = (
    f"every digit rotated uniformly within +/-{MAX_ROTATION_DEG:g} deg, scaled "
    f"{SCALE_RANGE[0]:g}-{SCALE_RANGE[1]:g} about the centre and shifted within "
    f"+/-{MAX_SHIFT_PX:g} px in x and y (bilinear, zero fill, rounded to uint8)"
)
NOISE_DESCRIPTION = f"{NOISE_COUNT} images of uniform random pixels in [0, 1]"
DOTS_DESCRIPTION = (
    f"{DOTS_COUNT} black images with {DOTS_RANGE[0]}-{DOTS_RANGE[1]} single-pixel dots at "
    f"random places, brightness {DOTS_MIN_VALUE}-255"
)

Images = npt.NDArray[np.uint8]


def _rng(stream: int, seed: int) -> np.random.Generator:
    """Return an independent generator per set, all derived from one seed."""
    return np.random.default_rng([seed, stream])


def warp(
    images: Images,
    angles_deg: npt.NDArray[np.float64],
    scales: npt.NDArray[np.float64],
    shifts: npt.NDArray[np.float64],
) -> Images:
    """Rotate, scale (about the centre) and then shift each image; bilinear, zero fill.

    `images` (N, 784) uint8; `angles_deg` and `scales` (N,); `shifts` (N, 2) as (x, y) pixels.
    Each output pixel samples the source at the inverse transform of its own position.
    """
    n = len(images)
    src = images.reshape(n, SIZE, SIZE).astype(np.float64)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    theta = np.radians(angles_deg)[:, None, None]
    scale = scales[:, None, None]
    # Undo the shift, then the rotation and scale, about the centre.
    dx = xs[None] - CENTRE - shifts[:, 0, None, None]
    dy = ys[None] - CENTRE - shifts[:, 1, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    sx = (cos * dx + sin * dy) / scale + CENTRE
    sy = (-sin * dx + cos * dy) / scale + CENTRE

    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    padded = np.zeros((n, SIZE + 2, SIZE + 2))
    padded[:, 1:-1, 1:-1] = src
    # Index the zero-padded copy; anything further out than one pixel reads zero too.
    px0, py0 = np.clip(x0 + 1, 0, SIZE + 1), np.clip(y0 + 1, 0, SIZE + 1)
    px1, py1 = np.clip(x0 + 2, 0, SIZE + 1), np.clip(y0 + 2, 0, SIZE + 1)
    inside = (x0 >= -1) & (x0 <= SIZE - 1) & (y0 >= -1) & (y0 <= SIZE - 1)
    idx = np.arange(n)[:, None, None]
    value = (
        padded[idx, py0, px0] * (1 - fx) * (1 - fy)
        + padded[idx, py0, px1] * fx * (1 - fy)
        + padded[idx, py1, px0] * (1 - fx) * fy
        + padded[idx, py1, px1] * fx * fy
    )
    value = np.where(inside, value, 0.0)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8).reshape(n, SIZE * SIZE)


def transformed(images: Images, seed: int = EVAL_SEED) -> Images:
    """Return a transformed copy of `images`: one fixed random rotation, scale, shift each."""
    rng = _rng(0, seed)
    n = len(images)
    angles = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, n)
    scales = rng.uniform(*SCALE_RANGE, n)
    shifts = rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, (n, 2))
    return warp(images, angles, scales, shifts)


def uniform_noise(count: int = NOISE_COUNT, seed: int = EVAL_SEED) -> Images:
    """Return `count` images of independent uniform pixels over the whole 0-255 range."""
    return _rng(1, seed).integers(0, 256, (count, SIZE * SIZE), dtype=np.uint8, endpoint=False)


def sparse_dots(count: int = DOTS_COUNT, seed: int = EVAL_SEED) -> Images:
    """Return `count` black images, each with a few bright single-pixel dots at random places."""
    rng = _rng(2, seed)
    out = np.zeros((count, SIZE * SIZE), dtype=np.uint8)
    for row in out:
        k = int(rng.integers(DOTS_RANGE[0], DOTS_RANGE[1], endpoint=True))
        where = rng.choice(SIZE * SIZE, size=k, replace=False)
        row[where] = rng.integers(DOTS_MIN_VALUE, 256, k)
    return out
