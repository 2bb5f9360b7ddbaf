"""The HTTP client: one method per route, retries with backoff when the server cannot be reached."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_BATCH = 256  # the server's default DIGITSERVE_MAX_BATCH
Pixels = npt.NDArray[np.float64]


class ClientError(Exception):
    """A call that failed: the server refused it (status and its message) or was not reached.

    details holds the server's `errors` (which field failed, and why), when it gave them.
    """

    def __init__(self, message: str, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.status else self.message


class Client:
    """Call digitserve's routes; answers are the parsed JSON bodies.

    Connection errors (nothing listening yet, a reset) are retried `retries` times, waiting
    `backoff` seconds, then twice as long each time (at most 10 s); any answer is final.
    """

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.5, max_batch: int = MAX_BATCH,
                 on_retry: Callable[[str], None] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_batch = max_batch
        self.on_retry = on_retry
        self.session = requests.Session()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def health(self) -> dict[str, Any]:
        """Return GET /health's answer; an unhealthy server (503) raises ClientError."""
        return dict(self.call("GET", "/health"))

    def predict(self, image: npt.ArrayLike) -> dict[str, Any]:
        """Classify one 28x28 image (or 784 values): floats in [0, 1], or uint8 0-255."""
        return dict(self.call("POST", "/predict", json={"data": pixels(image, 1)[0].tolist()}))

    def predict_batch(self, images: npt.ArrayLike) -> list[dict[str, Any]]:
        """Classify (N, 28, 28) or (N, 784) images, max_batch per request; answers in order."""
        rows = pixels(images, None)
        answers: list[dict[str, Any]] = []
        for start in range(0, len(rows), self.max_batch):
            body = {"instances": rows[start:start + self.max_batch].tolist()}
            answers += self.call("POST", "/predict/batch", json=body)["predictions"]
        return answers

    def predict_image(self, picture: bytes | str | Path, *, content_type: str | None = None,
                      return_input: bool = False) -> dict[str, Any]:
        """Classify a picture (PNG, JPEG, WebP, BMP, GIF; bytes or a file) as it is.

        The server prepares it; the Content-Type is guessed from a file's name by default.
        """
        if isinstance(picture, bytes):
            data, guessed = picture, None
        else:
            data, guessed = Path(picture).read_bytes(), mimetypes.guess_type(str(picture))[0]
        content_type = content_type or guessed or "application/octet-stream"
        query = "?return_input=true" if return_input else ""
        return dict(self.call("POST", f"/predict/image{query}", data=data,
                              headers={"Content-Type": content_type}))

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Make a request, retrying connection errors; return the JSON answer.

        :raises ClientError: if the server answers an error, or cannot be reached.
        """
        wait = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, self.url + path, timeout=self.timeout,
                                                **kwargs)
                break
            except requests.ConnectionError as error:
                if attempt == self.retries:
                    raise ClientError(f"cannot reach {self.url} after {attempt + 1} "
                                      f"attempt(s): {type(error).__name__}") from error
                if self.on_retry:
                    self.on_retry(f"cannot reach {self.url}; retrying in {wait:g} s")
                time.sleep(wait)
                wait = min(wait * 2, 10.0)
            except requests.Timeout as error:
                raise ClientError(f"no answer from {self.url} in {self.timeout:g} s") from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            raise refusal(body, response.reason, response.status_code)
        if body is None:
            raise ClientError(f"{method} {path} did not answer JSON", response.status_code)
        return body


def refusal(body: Any, reason: str | None, status: int) -> ClientError:
    """Make the server's error answer a ClientError whose message says which field and why.

    The service answers {"message", "errors"?}; its /v2 routes {"error"}.
    """
    if not isinstance(body, dict):
        return ClientError(reason or "error", status)
    message = str(body.get("message") or body.get("error") or reason or "error")
    details = body.get("errors") if isinstance(body.get("errors"), dict) else None
    if details:
        reasons = "; ".join(f"{where}: {why}" for where, why in _flatten(details))
        message = f"{message.removesuffix('; see errors.').rstrip('.')}: {reasons}"
    return ClientError(message, status, details)


def _flatten(errors: Any, where: str = "") -> list[tuple[str, str]]:
    """List (field path, message) pairs from marshmallow's nested errors ({"json": {...}})."""
    if isinstance(errors, dict):
        found = []
        for key, inner in errors.items():
            path = where if key in ("json", "_schema") else f"{where}.{key}".lstrip(".")
            found += _flatten(inner, path)
        return found
    if isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        return [(where or "body", " ".join(errors))]
    if isinstance(errors, list):
        return [pair for inner in errors for pair in _flatten(inner, where)]
    return [(where or "body", str(errors))]


def pixels(images: npt.ArrayLike, count: int | None) -> Pixels:
    """Return images as (N, 784) floats in [0, 1]; integers are taken as 0-255.

    :raises ClientError: if the shape or the values do not fit (count: how many are needed).
    """
    array = np.asarray(images)
    if array.dtype.kind in "iu":
        array = array / 255.0
    elif array.dtype.kind != "f":
        raise ClientError(f"pixels must be numbers, got {array.dtype}")
    if array.shape in {(28, 28), (784,)}:
        array = array.reshape(1, 784)
    elif array.ndim in (2, 3) and array.shape[1:] in {(28, 28), (784,)}:
        array = array.reshape(len(array), 784)
    else:
        raise ClientError(f"expected 28x28, 784, (N, 28, 28) or (N, 784) pixels, got "
                          f"{array.shape}")
    if count is not None and len(array) != count:
        raise ClientError(f"expected {count} image(s), got {len(array)}")
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise ClientError("float pixels must be in [0, 1] (uint8 pixels are scaled by 1/255)")
    return np.asarray(array, np.float64)
