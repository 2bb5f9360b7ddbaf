"""Run the exported model with onnxruntime alone, so checks and fixtures need no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def to_input(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Scale uint8 rows of 784 pixels to the model input: float32 (N, 1, 28, 28) in [0, 1]."""
    return (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)


def run_onnx(path: Path, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Return onnxruntime's class probabilities (N, 10) for a batch, on the CPU."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
    return np.asarray(probabilities, dtype=np.float32)
