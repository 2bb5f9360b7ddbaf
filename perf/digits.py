"""Held-out digits as ready-made request bodies, calibrated against the target server."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
DIGITS_PATH = Path(os.environ.get("PERF_DIGITS",
                                  REPO_ROOT / "tests" / "data" / "heldout_digits.npz"))
BATCH_SIZE = int(os.environ.get("PERF_BATCH_SIZE", "32"))
MIN_ACCURACY = float(os.environ.get("PERF_MIN_ACCURACY", "0.95"))
JSON = {"Content-Type": "application/json"}
ZEROS = orjson.dumps({"data": [0.0] * 784})
ONES = orjson.dumps({"data": [1.0] * 784})
log = logging.getLogger("digitserve.perf")


@dataclass(frozen=True)
class Digits:
    """Held-out digits: pixel rows in [0, 1] (rounded to 4 places), labels, /predict bodies."""

    rows: tuple[tuple[float, ...], ...]
    labels: tuple[int, ...]
    bodies: tuple[bytes, ...]


@dataclass(frozen=True)
class DigitPool:
    """The digits the server labels correctly at rest: /predict bodies and batch bodies."""

    singles: tuple[tuple[bytes, int], ...]
    batches: tuple[tuple[bytes, tuple[int, ...]], ...]


def read_digits(path: Path = DIGITS_PATH) -> Digits:
    """Read the npz (`images` uint8 (N, 784), `labels`) and encode each image as a body."""
    with np.load(path) as data:
        rows = np.round(data["images"].astype(np.float64) / 255.0, 4).tolist()
        labels = data["labels"].astype(int).tolist()
    return Digits(tuple(map(tuple, rows)), tuple(labels),
                  tuple(orjson.dumps({"data": row}) for row in rows))


def calibrate(host: str, digits: Digits, batch_size: int = BATCH_SIZE) -> DigitPool:
    """Ask the server, at rest, for its answer to every digit; keep those it gets right.

    Under load every answer must then match its label, so a wrong label is a fault of the
    load (crossed or corrupted answers), not one of the model's few mistakes.
    :raises RuntimeError: if the model's accuracy at rest is below PERF_MIN_ACCURACY.
    """
    answers: list[int] = []
    for start in range(0, len(digits.rows), 100):
        body = orjson.dumps({"instances": digits.rows[start:start + 100]})
        reply = requests.post(f"{host}/predict/batch", data=body, headers=JSON, timeout=30)
        reply.raise_for_status()
        answers += [p["prediction"] for p in reply.json()["predictions"]]
    good = [i for i, (got, want) in enumerate(zip(answers, digits.labels, strict=True))
            if got == want]
    accuracy = len(good) / len(digits.labels)
    log.warning("calibration: the server labels %d of %d held-out digits correctly (%.1f%%); "
                "only those are sent", len(good), len(digits.labels), 100 * accuracy)
    if accuracy < MIN_ACCURACY:
        raise RuntimeError(f"model accuracy at rest {accuracy:.3f} < PERF_MIN_ACCURACY")
    batches = tuple(
        (orjson.dumps({"instances": [digits.rows[i] for i in chosen]}),
         tuple(digits.labels[i] for i in chosen))
        for chosen in (good[s:s + batch_size] for s in range(0, len(good), batch_size))
        if len(chosen) == batch_size
    )
    if not batches:
        raise RuntimeError(f"fewer than PERF_BATCH_SIZE={batch_size} correctly labelled digits")
    return DigitPool(tuple((digits.bodies[i], digits.labels[i]) for i in good), batches)


def check_answer(answer: Any, label: int | None) -> str | None:
    """Return what is wrong with one prediction, or None if it is valid (and right)."""
    if not isinstance(answer, dict):
        return f"answer is {type(answer).__name__}, not an object"
    probabilities = answer.get("probabilities")
    if not isinstance(probabilities, list) or len(probabilities) != 10:
        return "probabilities is not a list of 10"
    confidence = answer.get("confidence")
    if not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
        return f"confidence {confidence!r} not in [0, 1]"
    if not isinstance(answer.get("prediction"), int) or not 0 <= answer["prediction"] <= 9:
        return f"prediction {answer.get('prediction')!r} is not a digit"
    if label is not None and answer["prediction"] != label:
        return f"predicted {answer['prediction']}, expected {label}"
    return None


def check_batch(body: Any, labels: tuple[int, ...]) -> str | None:
    """Return what is wrong with a /predict/batch answer, or None; order must match."""
    answers = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(answers, list) or len(answers) != len(labels):
        return f"expected {len(labels)} predictions"
    return next((p for p in map(check_answer, answers, labels) if p), None)
