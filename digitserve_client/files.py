"""What to send for each file: pictures as they are, JSON bodies, numpy arrays; folders walked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from digitserve_client.client import Client
from digitserve_client.client import ClientError

PICTURES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
KNOWN = PICTURES | {".json", ".npy"}


@dataclass
class Result:
    """One image's answer, or why there is none."""

    source: str  # the file, with [i] for the i-th image of a batch
    answer: dict[str, Any] = field(default_factory=dict)
    error: ClientError | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the result as a JSON object: the answer, or the error and its status."""
        if self.error is not None:
            return {"source": self.source, "error": self.error.message,
                    "status": self.error.status}
        return {"source": self.source, **self.answer}


def expand(paths: list[Path]) -> Iterator[Path]:
    """Yield each file; a folder's pictures, .json and .npy files in name order.

    :raises ClientError: if a path does not exist.
    """
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in KNOWN)
        elif path.exists():
            yield path
        else:
            raise ClientError(f"{path}: no such file or folder")


def predict_file(client: Client, path: Path) -> list[Result]:
    """Send one file the way its kind needs; return a result for each image in it."""
    try:
        suffix = path.suffix.lower()
        if suffix == ".json":
            return _json_body(client, path)
        if suffix == ".npy":
            images = np.load(path, allow_pickle=False)
            if images.ndim <= 2 and images.size == 784:
                return [Result(str(path), client.predict(images))]
            answers = client.predict_batch(images)
            return [Result(f"{path}[{i}]", answer) for i, answer in enumerate(answers)]
        return [Result(str(path), client.predict_image(path))]
    except ClientError as error:
        return [Result(str(path), error=error)]
    except (OSError, ValueError) as error:  # unreadable file, bad JSON or .npy
        return [Result(str(path), error=ClientError(f"cannot read {path}: {error}"))]


def _json_body(client: Client, path: Path) -> list[Result]:
    """Send a request body as it is: to /predict/batch if it has instances, else /predict."""
    raw = path.read_bytes()
    body = json.loads(raw)
    headers = {"Content-Type": "application/json"}
    if isinstance(body, dict) and "instances" in body:
        answers = client.call("POST", "/predict/batch", data=raw, headers=headers)
        return [Result(f"{path}[{i}]", answer)
                for i, answer in enumerate(answers["predictions"])]
    return [Result(str(path), client.call("POST", "/predict", data=raw, headers=headers))]
