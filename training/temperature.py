"""Fit the softmax temperature on the validation digits (never the held-out ones).

The net that sees the validation digits here is a twin trained without them; the served net,
same recipe and seed on all 4,000 training digits, takes its temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from training import evalsets
from training.calibration import expected_calibration_error
from training.calibration import fit_temperature
from training.calibration import softmax
from training.data import Fit
from training.runtime import to_input

# The validation copy is transformed like the held-out one, from another seed.
VALIDATION_TRANSFORM_SEED = evalsets.EVAL_SEED + 1


@dataclass(frozen=True)
class Calibration:
    """The fitted temperature and what it did on the validation digits."""

    temperature: float
    size: int
    ece_before: float
    ece_after: float
    accuracy: float  # the twin's, on the clean validation digits
    transformed_accuracy: float  # and on their transformed copy

    def describe(self) -> str:
        """Return one line for the card and the metadata."""
        return (
            f"temperature {self.temperature:.4f}, NLL-optimal for a twin trained without the "
            f"validation digits, on its answers to them ({self.size} images: clean + one "
            "transformed copy); folded into the served net's last layer"
        )


def logits_of(net: nn.Module, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Return the net's logits (N, 10) for uint8 images, in eval mode."""
    net.eval()
    with torch.inference_mode():
        logits: npt.NDArray[np.float32] = net(torch.from_numpy(to_input(images))).numpy()
    return logits


def calibrate(net: nn.Module, fit: Fit) -> Calibration:
    """Fit the temperature on the validation digits plus one transformed copy of them."""
    images = np.concatenate([
        fit.validation_images,
        evalsets.transformed(fit.validation_images, seed=VALIDATION_TRANSFORM_SEED),
    ])
    labels = np.concatenate([fit.validation_labels, fit.validation_labels])
    logits = logits_of(net, images)
    temperature = fit_temperature(logits, labels)
    right = logits.argmax(1) == labels
    half = len(fit.validation_labels)
    return Calibration(
        temperature=temperature,
        size=len(labels),
        ece_before=expected_calibration_error(softmax(logits), labels),
        ece_after=expected_calibration_error(softmax(logits, temperature), labels),
        accuracy=float(right[:half].mean()),
        transformed_accuracy=float(right[half:].mean()),
    )
