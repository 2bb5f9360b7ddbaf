"""Turn validated pixel arrays into the model's input batch (pure numpy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.inference.model import INPUT_SHAPE


def to_batch(pixels: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Reshape (N, 784) pixel values in [0, 1] into a contiguous float32 (N, 1, 28, 28) batch."""
    return np.ascontiguousarray(pixels, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
