"""The real ONNX model behind DigitClassifier: shapes, probabilities, accuracy, identity."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from app.inference.model import DigitClassifier
from app.inference.preprocess import to_batch
from tests.support import MODEL_PATH
from tests.support import Digits


@pytest.fixture(scope="module")
def model() -> DigitClassifier:
    return DigitClassifier.load(MODEL_PATH, threads=1)


def test_identity(model: DigitClassifier) -> None:
    assert model.info.sha256 == hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()
    assert model.info.pid == os.getpid()
    assert model.info.load_ms > 0
    assert model.info.name == "digitserve-mnist-cnn"
    assert model.info.version == "2.0.0"


def test_to_batch_shape_and_dtype() -> None:
    batch = to_batch(np.zeros((3, 784)))
    assert batch.shape == (3, 1, 28, 28)
    assert batch.dtype == np.float32
    assert batch.flags.c_contiguous


def test_predictions_are_distributions(model: DigitClassifier, heldout: Digits) -> None:
    predictions = model.predict(to_batch(heldout[0][:50]))
    assert len(predictions) == 50
    for p in predictions:
        assert 0 <= p.prediction <= 9
        assert len(p.probabilities) == 10
        assert sum(p.probabilities) == pytest.approx(1.0, abs=1e-4)
        assert p.confidence == max(p.probabilities)


def test_heldout_accuracy_matches_model_card(model: DigitClassifier, heldout: Digits) -> None:
    images, labels = heldout
    predicted = np.array([p.prediction for p in model.predict(to_batch(images))])
    accuracy = float((predicted == labels).mean())
    assert len(labels) == 1000
    assert accuracy >= 0.99
    assert accuracy == pytest.approx(float(model.info.metadata["heldout_accuracy"]), abs=1e-3)


def test_batch_equals_singles(model: DigitClassifier, heldout: Digits) -> None:
    batch = to_batch(heldout[0][:16])
    together = model.predict(batch)
    alone = [model.predict(batch[i:i + 1])[0] for i in range(16)]
    assert [p.prediction for p in together] == [p.prediction for p in alone]
    assert np.allclose([p.probabilities for p in together], [p.probabilities for p in alone],
                       atol=1e-5)


def test_blank_images_do_not_crash(model: DigitClassifier) -> None:
    for value in (0.0, 1.0):
        (p,) = model.predict(to_batch(np.full((1, 784), value)))
        assert 0 <= p.prediction <= 9
