"""Shared fixtures: the app built from the real model.onnx, its test client, held-out digits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.support import Digits
from tests.support import load_heldout


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """Build the app once for the session, with the real model."""
    yield create_app({"TESTING": True})


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """Return a test client for the shared app."""
    return app.test_client()


@pytest.fixture(scope="session")
def heldout() -> Digits:
    """Return the held-out digits as (N, 784) in [0, 1], and their labels."""
    return load_heldout()


@pytest.fixture(scope="session")
def digit(heldout: Digits) -> tuple[list[float], int]:
    """Return one held-out digit as 784 floats, and its label."""
    images, labels = heldout
    return images[0].tolist(), int(labels[0])
