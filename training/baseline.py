"""The model v4 replaces (v3, from git), scored and timed beside the new one for the card."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training import scorecard
from training import speed
from training.scorecard import Scores

REPO_ROOT = Path(__file__).resolve().parent.parent
# The commit that shipped model v3 (metadata version 1.0.0), the model this one replaces.
V3_COMMIT = "c5b7169fafa7995883e734a83d331c4bb9413d00"
V3_LABEL = "v3 (1.0.0, shipped before)"
V4_LABEL = "v4 (2.0.0, this model)"


@dataclass(frozen=True)
class Comparison:
    """v3 and v4 on the same sets, and their inference cost measured in one run."""

    v3: Scores
    timings: list[speed.Timing]
    rounds: int


def fetch_v3(dest: Path) -> Path | None:
    """Write v3's model.onnx from git to `dest`; None when git or the commit is missing."""
    try:
        data = subprocess.run(["git", "show", f"{V3_COMMIT}:model.onnx"], cwd=REPO_ROOT,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    dest.write_bytes(data)
    return dest


def compare(
    v4_path: Path, images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], workdir: Path
) -> Comparison | None:
    """Score v3 on the held-out sets and time v3 against v4; None when v3 is not at hand."""
    v3_path = fetch_v3(workdir / "model_v3.onnx")
    if v3_path is None:
        print(f"v3 ({V3_COMMIT[:7]}) not found in git: the card will have no comparison")
        return None
    timings = speed.measure([v3_path, v4_path], [V3_LABEL, V4_LABEL])
    return Comparison(scorecard.score(v3_path, images, labels), timings, speed.ROUNDS)
