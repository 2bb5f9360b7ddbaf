"""Calibration in numpy: expected calibration error, reliability bins, temperature fitting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ECE_BINS = 15


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: edges, how many answers fell in, their accuracy and confidence."""

    edges: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]
    accuracy: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]


def reliability(
    probabilities: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], bins: int = ECE_BINS
) -> ReliabilityBins:
    """Group the top-1 answers into `bins` equal-width confidence bins over (0, 1]."""
    confidence = probabilities.max(1).astype(np.float64)
    correct = (probabilities.argmax(1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin b holds confidences in (edges[b], edges[b + 1]]; a confidence is never 0.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    safe = np.maximum(counts, 1)
    return ReliabilityBins(
        edges=edges,
        counts=counts,
        accuracy=np.bincount(which, weights=correct, minlength=bins) / safe,
        confidence=np.bincount(which, weights=confidence, minlength=bins) / safe,
    )


def expected_calibration_error(
    probabilities: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], bins: int = ECE_BINS
) -> float:
    """Return the ECE: the count-weighted mean |accuracy - confidence| over confidence bins."""
    r = reliability(probabilities, labels, bins)
    return float((r.counts * np.abs(r.accuracy - r.confidence)).sum() / r.counts.sum())


def softmax(logits: npt.NDArray[np.floating], temperature: float = 1.0) -> npt.NDArray[np.float64]:
    """Return softmax(logits / temperature) row by row, in float64."""
    z = logits.astype(np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(1, keepdims=True)
    return out


def nll(
    logits: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], temperature: float
) -> float:
    """Return the mean negative log-likelihood of the labels at `temperature`."""
    z = logits.astype(np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], low: float = 0.05,
    high: float = 20.0, steps: int = 80,
) -> float:
    """Return the temperature that minimises the NLL (golden-section search on log T)."""
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(steps):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if nll(logits, labels, float(np.exp(c))) < nll(logits, labels, float(np.exp(d))):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))
