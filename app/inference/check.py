"""The check a model file passes before it serves: load it as a worker would, read known digits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.inference.model import DigitClassifier
from app.inference.model import ModelInfo
from app.web.errors import ModelLoadError

# Five held-out MNIST digits of each class (never trained on), as uint8 28x28, with labels.
KNOWN_DIGITS = Path(__file__).with_name("known_digits.npz")
# A digit model reads at least this share of them right; one with scrambled or missing
# weights reads about a tenth.
MIN_RIGHT = 0.9


@dataclass(frozen=True)
class CheckedModel:
    """A model file that passed: what it is, and how it read the known digits."""

    info: ModelInfo
    known_right: int
    known_total: int


def check_model(content: bytes, path: Path, *, threads: int = 1) -> CheckedModel:
    """Load content as a worker would (interface, warm-up), then classify the known digits.

    :raises ModelLoadError: naming path and the first problem found.
    """
    model = DigitClassifier.from_bytes(content, path=path, threads=threads)
    with np.load(KNOWN_DIGITS) as known:
        images = (known["images"].reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)
        labels = known["labels"].tolist()
    answers = model.predict(images)
    right = sum(answer.prediction == label for answer, label in zip(answers, labels, strict=True))
    needed = math.ceil(MIN_RIGHT * len(labels))
    if right < needed:
        raise ModelLoadError(f"model {path} reads {right} of {len(labels)} known digits right; "
                             f"a digit model reads at least {needed}")
    return CheckedModel(model.info, right, len(labels))
