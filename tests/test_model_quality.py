"""The served model's floors (issue #8): accuracy, robustness, calibration, doubt on non-digits.

Everything runs through DigitClassifier and onnxruntime on the real model.onnx; the transformed,
noise and dots sets come from training.evalsets (numpy only), as in the model card.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.inference.model import DigitClassifier
from app.inference.preprocess import to_batch
from tests.support import MODEL_PATH
from tests.support import load_heldout_pixels
from training import evalsets
from training.calibration import expected_calibration_error

VERSION = "2.0.0"
ACCURACY_FLOOR = 0.99
CLASS_FLOOR = 0.98  # issue #8's floor for every class; v4 misses it on digit 9 (96 of 100)
CLASS_GUARD = 0.96  # what v4 holds: a guard against a worse model, not the floor
TRANSFORMED_FLOOR = 0.98
ECE_CEILING = 0.02
DOUBT_CEILING = 0.5
FIGURES = ("heldout_accuracy", "heldout_min_class_accuracy", "transformed_accuracy", "ece",
           "noise_mean_confidence", "dots_mean_confidence", "temperature", "training_recipe")

Probabilities = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def model() -> DigitClassifier:
    return DigitClassifier.load(MODEL_PATH, threads=1)


def probabilities(model: DigitClassifier, images: npt.NDArray[np.uint8]) -> Probabilities:
    """Return the served probabilities (rounded as /predict rounds them) for uint8 images."""
    predictions = model.predict(to_batch(images.astype(np.float64) / 255.0))
    return np.array([p.probabilities for p in predictions])


@pytest.fixture(scope="module")
def heldout_pixels() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    return load_heldout_pixels()


@pytest.fixture(scope="module")
def heldout_probabilities(model: DigitClassifier, heldout_pixels: tuple[
        npt.NDArray[np.uint8], npt.NDArray[np.int64]]) -> Probabilities:
    return probabilities(model, heldout_pixels[0])


def test_metadata_names_version_and_figures(model: DigitClassifier) -> None:
    assert model.info.name == "digitserve-mnist-cnn"
    assert model.info.version == VERSION
    for key in FIGURES:
        assert model.info.metadata.get(key), f"metadata lacks {key}"


def test_heldout_accuracy(
    model: DigitClassifier, heldout_pixels: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    heldout_probabilities: Probabilities,
) -> None:
    labels = heldout_pixels[1]
    accuracy = float((heldout_probabilities.argmax(1) == labels).mean())
    assert model.info.metadata["heldout_accuracy"] == f"{accuracy:.4f}"
    assert accuracy >= ACCURACY_FLOOR


def test_heldout_every_class(
    model: DigitClassifier, heldout_pixels: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    heldout_probabilities: Probabilities,
) -> None:
    labels = heldout_pixels[1]
    predicted = heldout_probabilities.argmax(1)
    per_class = [float((predicted[labels == c] == c).mean()) for c in range(10)]
    assert model.info.metadata["heldout_min_class_accuracy"] == f"{min(per_class):.4f}"
    assert min(per_class) >= CLASS_GUARD, dict(enumerate(per_class))
    below = {digit: share for digit, share in enumerate(per_class) if share < CLASS_FLOOR}
    assert below == {9: 0.96}, "the card and issue #8 say only digit 9 misses the class floor"


def test_transformed_accuracy(
    model: DigitClassifier, heldout_pixels: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
) -> None:
    images, labels = heldout_pixels
    moved = probabilities(model, evalsets.transformed(images))
    accuracy = float((moved.argmax(1) == labels).mean())
    assert model.info.metadata["transformed_accuracy"] == f"{accuracy:.4f}"
    assert accuracy >= TRANSFORMED_FLOOR


def test_calibration_error(
    model: DigitClassifier, heldout_pixels: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
    heldout_probabilities: Probabilities,
) -> None:
    ece = expected_calibration_error(heldout_probabilities, heldout_pixels[1])
    # /predict rounds to 6 decimals; the card's figure comes from the unrounded output.
    assert ece == pytest.approx(float(model.info.metadata["ece"]), abs=2e-4)
    assert ece <= ECE_CEILING


@pytest.mark.parametrize(("name", "images"), [
    ("noise", evalsets.uniform_noise()),
    ("dots", evalsets.sparse_dots()),
])
def test_doubt_on_non_digits(
    model: DigitClassifier, name: str, images: npt.NDArray[np.uint8]
) -> None:
    confidence = float(probabilities(model, images).max(1).mean())
    assert confidence == pytest.approx(
        float(model.info.metadata[f"{name}_mean_confidence"]), abs=2e-4)
    assert confidence <= DOUBT_CEILING


def test_blank_images_get_doubt(model: DigitClassifier) -> None:
    # The old service's load test sends all-zero and all-one images.
    for value in (0.0, 1.0):
        (p,) = model.predict(to_batch(np.full((1, 784), value)))
        assert p.confidence <= DOUBT_CEILING
        assert sum(p.probabilities) == pytest.approx(1.0, abs=1e-4)
