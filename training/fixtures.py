"""Write the held-out test digits and the example request bodies: `python -m training.fixtures`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.data import Split
from training.data import load_split
from training.runtime import run_onnx
from training.runtime import to_input

REPO_ROOT = Path(__file__).resolve().parent.parent
HELDOUT_PATH = REPO_ROOT / "tests" / "data" / "heldout_digits.npz"
EXAMPLES_DIR = REPO_ROOT / "examples"
MIN_CONFIDENCE = 0.999
BATCH_SIZE = 8


@dataclass(frozen=True)
class Examples:
    """Which held-out rows (positions in heldout_digits.npz) went into examples/."""

    digit_row: int
    digit_label: int
    digit_confidence: float
    batch_rows: list[int]
    batch_labels: list[int]


def to_pixels(image: npt.NDArray[np.uint8]) -> list[float | int]:
    """Scale one image to [0, 1], 4 decimals; whole numbers stay ints so zeros print as 0."""
    values = np.round(image.astype(np.float64) / 255.0, 4)
    return [int(v) if v.is_integer() else float(v) for v in values.tolist()]


def write_json(path: Path, body: dict[str, object]) -> None:
    """Write compact JSON (the files are request bodies, and small is the point)."""
    path.write_text(json.dumps(body, separators=(",", ":")) + "\n")


def write_heldout(split: Split, path: Path = HELDOUT_PATH) -> None:
    """Save the whole held-out part: images uint8 (1000, 784), labels int64 (1000,), split order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=split.heldout_images, labels=split.heldout_labels)


def write_examples(split: Split, model_path: Path, out_dir: Path = EXAMPLES_DIR) -> Examples:
    """Write digit.json, digit_28x28.json and batch.json from digits the model gets right.

    digit.json holds the first held-out digit classified correctly with p >= MIN_CONFIDENCE;
    batch.json the first BATCH_SIZE correctly classified ones.
    :raises ValueError: if too few held-out digits qualify.
    """
    probabilities = run_onnx(model_path, to_input(split.heldout_images))
    labels = split.heldout_labels
    correct = probabilities.argmax(1) == labels
    confidence = probabilities[np.arange(len(labels)), labels]
    confident = np.flatnonzero(correct & (confidence >= MIN_CONFIDENCE))
    batch_rows = np.flatnonzero(correct)[:BATCH_SIZE]
    if not confident.size or len(batch_rows) < BATCH_SIZE:
        raise ValueError("the model gets too few held-out digits right to pick examples")
    row = int(confident[0])

    out_dir.mkdir(parents=True, exist_ok=True)
    pixels = to_pixels(split.heldout_images[row])
    write_json(out_dir / "digit.json", {"data": pixels})
    write_json(
        out_dir / "digit_28x28.json", {"data": [pixels[i : i + 28] for i in range(0, 784, 28)]}
    )
    instances = [to_pixels(split.heldout_images[r]) for r in batch_rows]
    write_json(out_dir / "batch.json", {"instances": instances})
    return Examples(
        digit_row=row,
        digit_label=int(labels[row]),
        digit_confidence=float(confidence[row]),
        batch_rows=[int(r) for r in batch_rows],
        batch_labels=[int(labels[r]) for r in batch_rows],
    )


def main(model_path: Path = REPO_ROOT / "model.onnx") -> Examples:
    """Write every fixture from the fixed split and the current model."""
    split = load_split()
    write_heldout(split)
    examples = write_examples(split, model_path)
    print(
        f"wrote {HELDOUT_PATH.relative_to(REPO_ROOT)} ({len(split.heldout_labels)} digits); "
        f"examples/digit.json = held-out row {examples.digit_row}, label {examples.digit_label} "
        f"(p={examples.digit_confidence:.4f}); batch.json rows {examples.batch_rows} "
        f"labels {examples.batch_labels}"
    )
    return examples


if __name__ == "__main__":
    main()
