"""Gunicorn's worker timeout, raised as WorkerTimeoutError wherever the request happens to be:
it stays a timeout (503, its own message) and is never relabelled by a catch-all on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gunicorn.http import errors as http

from app.inference.model import DigitClassifier
from app.inference.pictures import decoding
from app.web.errors import ModelUnavailableError
from app.web.errors import WorkerTimeoutError
from app.web.refusals import message_of
from app.web.refusals import status_of
from tests.support import MODEL_PATH

PICTURE = Path(__file__).resolve().parents[1] / "examples" / "pictures" / "paper.jpg"


def timeout(*_: Any, **__: Any) -> Any:
    """Stand in for the signal handler: raise where the worker was when time ran out."""
    raise WorkerTimeoutError("The request took longer than the worker timeout (30 s).")


def test_a_timeout_before_the_app_is_a_503_with_its_own_message() -> None:
    error = WorkerTimeoutError("The request took longer than the worker timeout (30 s).")
    assert status_of(error) == 503
    assert message_of(error, 503) == error.message
    assert status_of(http.InvalidRequestLine("x")) == 400  # the others as before


def test_a_timeout_during_inference_is_not_an_inference_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    classifier = DigitClassifier.load(MODEL_PATH, threads=1)
    monkeypatch.setattr(classifier._session, "run", timeout)
    with pytest.raises(WorkerTimeoutError):
        classifier.predict(np.zeros((1, 784), dtype=np.float32))
    monkeypatch.setattr(classifier._session, "run", lambda *_: 1 / 0)
    with pytest.raises(ModelUnavailableError):  # any other failure still is
        classifier.predict(np.zeros((1, 784), dtype=np.float32))


@pytest.mark.parametrize("where", ["open", "decode"])
def test_a_timeout_while_decoding_is_not_a_broken_picture(
        where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "open":
        monkeypatch.setattr(decoding.Image, "open", timeout)
    else:
        monkeypatch.setattr(decoding, "_decode", timeout)
    with pytest.raises(WorkerTimeoutError):
        decoding.read_grey(PICTURE.read_bytes(), max_pixels=4_194_304)
