"""Paths and loaders shared by the unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = REPO_ROOT / "model.onnx"
DATA_DIR = Path(__file__).resolve().parent / "data"

Digits = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]


def load_heldout() -> Digits:
    """Return the held-out digits (never seen in training) as (N, 784) in [0, 1], and labels."""
    with np.load(DATA_DIR / "heldout_digits.npz") as data:
        return data["images"].astype(np.float64) / 255.0, data["labels"].astype(np.int64)


def load_heldout_pixels() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Return the held-out digits as stored: uint8 rows of 784 pixels, and labels."""
    with np.load(DATA_DIR / "heldout_digits.npz") as data:
        return data["images"], data["labels"].astype(np.int64)


def sample_value(metrics_text: str, metric: str, /, **labels: str) -> float:
    """Sum the samples called metric whose labels include the given ones (0 if none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == metric and labels.items() <= sample.labels.items()
    )
