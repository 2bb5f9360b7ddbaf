"""The fixed evaluation sets and the calibration error, on their own (numpy only, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import load_heldout_pixels
from training import evalsets
from training.calibration import expected_calibration_error
from training.calibration import fit_temperature
from training.calibration import softmax


def test_sets_are_fixed_uint8_images() -> None:
    images, _ = load_heldout_pixels()
    for make in (lambda: evalsets.transformed(images), evalsets.uniform_noise,
                 evalsets.sparse_dots):
        first, second = make(), make()
        assert first.dtype == np.uint8
        assert first.shape[1] == 784
        assert np.array_equal(first, second)
    assert len(evalsets.uniform_noise()) == len(evalsets.sparse_dots()) == 1000


def test_transformed_copy_moves_every_digit_but_keeps_its_ink() -> None:
    images, _ = load_heldout_pixels()
    moved = evalsets.transformed(images)
    assert moved.shape == images.shape
    assert (moved != images).any(axis=1).all()
    ink = moved.astype(np.float64).sum(1) / images.astype(np.float64).sum(1)
    # Scaling by 0.85-1.15 changes the ink by its square; a digit pushed off the edge loses some.
    assert 0.6 < np.median(ink) < 1.4


def test_warp_identity_and_pure_shift() -> None:
    images, _ = load_heldout_pixels()
    few = images[:5]
    zeros, ones = np.zeros(5), np.ones(5)
    assert np.array_equal(evalsets.warp(few, zeros, ones, np.zeros((5, 2))), few)
    shifted = evalsets.warp(few, zeros, ones, np.tile([2.0, 1.0], (5, 1)))
    square = few.reshape(5, 28, 28)
    assert np.array_equal(shifted.reshape(5, 28, 28)[:, 1:, 2:], square[:, :-1, :-2])


def test_dots_are_sparse_and_noise_is_dense() -> None:
    lit = (evalsets.sparse_dots() > 0).sum(1)
    assert lit.min() >= evalsets.DOTS_RANGE[0] and lit.max() <= evalsets.DOTS_RANGE[1]
    assert (evalsets.uniform_noise() > 0).mean() > 0.99


def test_calibration_error_sees_overconfidence() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    logits = rng.normal(size=(2000, 10)) + 1.5 * np.eye(10)[labels]
    calibrated_t = fit_temperature(logits, labels)
    assert expected_calibration_error(softmax(logits, calibrated_t), labels) < 0.04
    # The same answers made far too sure: confidence near 1, accuracy well below.
    assert expected_calibration_error(softmax(logits, 0.1), labels) > 0.1
    perfect = np.eye(10)[labels]
    assert expected_calibration_error(perfect, labels) == pytest.approx(0.0)
