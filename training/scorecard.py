"""Score an exported model on every fixed set with onnxruntime alone (numpy, no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training import evalsets
from training.calibration import expected_calibration_error
from training.runtime import run_onnx
from training.runtime import to_input

NUM_CLASSES = 10


@dataclass(frozen=True)
class Scores:
    """One model's figures on the held-out digits, their transformed copy, noise and dots."""

    labels: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]
    transformed_probabilities: npt.NDArray[np.float32]
    noise_probabilities: npt.NDArray[np.float32]
    dots_probabilities: npt.NDArray[np.float32]

    @property
    def accuracy(self) -> float:
        """Share of held-out digits labelled correctly."""
        return float((self.probabilities.argmax(1) == self.labels).mean())

    @property
    def per_class(self) -> list[float]:
        """Held-out accuracy of each digit 0-9."""
        return per_class(self.probabilities, self.labels)

    @property
    def transformed_accuracy(self) -> float:
        """Share of the transformed held-out copy labelled correctly."""
        return float((self.transformed_probabilities.argmax(1) == self.labels).mean())

    @property
    def transformed_per_class(self) -> list[float]:
        """Transformed-copy accuracy of each digit 0-9."""
        return per_class(self.transformed_probabilities, self.labels)

    @property
    def ece(self) -> float:
        """Expected calibration error on the held-out digits."""
        return expected_calibration_error(self.probabilities, self.labels)

    @property
    def transformed_ece(self) -> float:
        """Expected calibration error on the transformed copy."""
        return expected_calibration_error(self.transformed_probabilities, self.labels)

    @property
    def noise_confidence(self) -> float:
        """Mean top probability on the uniform-noise images."""
        return float(self.noise_probabilities.max(1).mean())

    @property
    def dots_confidence(self) -> float:
        """Mean top probability on the sparse-dots images."""
        return float(self.dots_probabilities.max(1).mean())

    def confusion(self) -> npt.NDArray[np.int64]:
        """Return the held-out confusion matrix: rows true digit, columns answer."""
        return confusion(self.probabilities, self.labels)


def per_class(
    probabilities: npt.NDArray[np.floating], labels: npt.NDArray[np.int64]
) -> list[float]:
    """Return the accuracy of each class 0-9."""
    predicted = probabilities.argmax(1)
    return [float((predicted[labels == c] == c).mean()) for c in range(NUM_CLASSES)]


def confusion(
    probabilities: npt.NDArray[np.floating], labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Return counts (10, 10): row = true digit, column = the model's answer."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, probabilities.argmax(1)), 1)
    return matrix


def score(path: Path, images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64]) -> Scores:
    """Run the model at `path` on the held-out `images` and on every fixed derived set."""
    return Scores(
        labels=labels,
        probabilities=run_onnx(path, to_input(images)),
        transformed_probabilities=run_onnx(path, to_input(evalsets.transformed(images))),
        noise_probabilities=run_onnx(path, to_input(evalsets.uniform_noise())),
        dots_probabilities=run_onnx(path, to_input(evalsets.sparse_dots())),
    )
