"""The check a model file passes before it serves: load it as a worker would, read known digits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from app.inference.contract import DEFAULT_OPTIONS
from app.inference.contract import Options
from app.inference.known import known_digits
from app.inference.model import DigitClassifier
from app.inference.model import ModelInfo
from app.web.errors import ModelLoadError

# A digit model reads at least this share of them right; one with scrambled or missing
# weights reads about a tenth.
MIN_RIGHT = 0.9


@dataclass(frozen=True)
class CheckedModel:
    """A model file that passed: what it is, and how it read the known digits."""

    info: ModelInfo
    known_right: int
    known_total: int


def check_model(content: bytes, path: Path, *, threads: int = 1,
                options: Options = DEFAULT_OPTIONS) -> CheckedModel:
    """Load content as a worker would (contract, warm-up), then classify the known digits.

    :raises ModelLoadError: naming path and the first problem found.
    """
    model = DigitClassifier.from_bytes(content, path=path, threads=threads, options=options)
    images, labels = known_digits()
    answers = model.predict(images)
    right = sum(answer.prediction == label for answer, label in zip(answers, labels, strict=True))
    needed = math.ceil(MIN_RIGHT * len(labels))
    if right < needed:
        trained_on = model.contract.input_range
        raise ModelLoadError(f"model {path} reads {right} of {len(labels)} known digits right; "
                             f"a digit model reads at least {needed} (fed pixels as "
                             f"{trained_on}: if it was trained on other values, set "
                             f"DIGITSERVE_INPUT_RANGE to 0-1, 0-255 or mnist)")
    return CheckedModel(model.info, right, len(labels))
