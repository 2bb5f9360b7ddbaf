"""Known digits: five held-out MNIST digits of each class, never trained on, with their labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

KNOWN_DIGITS = Path(__file__).with_name("known_digits.npz")


def known_digits() -> tuple[npt.NDArray[np.float32], list[int]]:
    """Return the digits as a float32 (50, 1, 28, 28) batch in [0, 1], and their labels."""
    with np.load(KNOWN_DIGITS) as known:
        images = (known["images"].reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)
        return images, [int(label) for label in known["labels"]]
