"""Train the CNN, then export model.onnx, fixtures and model card: `python -m training.train`."""

from __future__ import annotations

import datetime
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from training import baseline
from training import card
from training import fixtures
from training import scorecard
from training.augment import Augmentation
from training.calibration import expected_calibration_error
from training.calibration import softmax
from training.data import VALIDATION_SEED
from training.data import carve_validation
from training.data import load_split
from training.evalsets import TRANSFORM_DESCRIPTION
from training.export import export_graph
from training.export import write_metadata
from training.loop import Schedule
from training.loop import fit
from training.net import ARCHITECTURE
from training.net import MULTIPLY_ADDS
from training.net import DigitNet
from training.net import count_parameters
from training.net import with_temperature
from training.runtime import to_input
from training.temperature import calibrate
from training.temperature import logits_of

MODEL_PATH = fixtures.REPO_ROOT / "model.onnx"
NAME = "digitserve-mnist-cnn"
VERSION = "2.0.0"
SEED = 20261208
THREADS = 2
SCHEDULE = Schedule(epochs=150, augmentation=Augmentation())


def seed_everything(seed: int = SEED) -> torch.Generator:
    """Seed python, numpy and torch, pin threads and algorithms; return the data generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def train_net(images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], name: str) -> DigitNet:
    """Seed everything, then build and train a fresh DigitNet (its initial weights included)."""
    generator = seed_everything()
    net = DigitNet()
    fit(net, torch.from_numpy(to_input(images)), torch.from_numpy(labels), SCHEDULE, generator,
        name=name)
    return net.eval()


def recipe_summary(temperature: float) -> str:
    """Return the whole recipe in one line for the metadata."""
    return (
        f"{SCHEDULE.epochs} epochs AdamW + OneCycle on the 4000 training digits, heavy "
        "augmentation (affine, elastic, stroke width), outlier exposure with a uniform target; "
        f"temperature {temperature:.4f} fitted on 500 validation digits held out from a twin "
        f"run; seed {SEED}"
    )


def main() -> None:
    """Retrain everything from the fixed split and write every artefact."""
    split = load_split()
    parts = carve_validation(split)
    print(f"data: {split.describe()}; fit {len(parts.fit_labels)}, "
          f"validation {len(parts.validation_labels)} (seed {VALIDATION_SEED})")
    started = time.perf_counter()
    # The twin learns from the fit digits alone, so the validation digits can set the
    # temperature; the served net then learns from all of them with the same recipe and seed.
    twin = train_net(parts.fit_images, parts.fit_labels, "twin")
    calibration = calibrate(twin, parts)
    print(f"twin on validation: accuracy {calibration.accuracy:.4f}, transformed "
          f"{calibration.transformed_accuracy:.4f}; {calibration.describe()}; ECE "
          f"{calibration.ece_before:.4f} -> {calibration.ece_after:.4f}")
    net = train_net(split.train_images, split.train_labels, "served")
    served = with_temperature(net, calibration.temperature)
    train_seconds = time.perf_counter() - started

    heldout, labels = split.heldout_images, split.heldout_labels
    uncalibrated = softmax(logits_of(net, heldout))
    ece_before = expected_calibration_error(uncalibrated, labels)
    max_abs_diff = export_graph(served, MODEL_PATH, heldout)
    scores = scorecard.score(MODEL_PATH, heldout, labels)
    metadata = {
        "name": NAME,
        "version": VERSION,
        "heldout_size": str(len(labels)),
        "train_size": str(len(split.train_labels)),
        "validation_size": str(len(parts.validation_labels)),
        "training_data": split.describe(),
        "parameters": str(count_parameters(net)),
        "multiply_adds": str(MULTIPLY_ADDS),
        "architecture": ARCHITECTURE,
        "training_recipe": recipe_summary(calibration.temperature),
        "temperature": f"{calibration.temperature:.4f}",
        "heldout_accuracy": f"{scores.accuracy:.4f}",
        "heldout_min_class_accuracy": f"{min(scores.per_class):.4f}",
        "transformed_accuracy": f"{scores.transformed_accuracy:.4f}",
        "transformed_set": TRANSFORM_DESCRIPTION,
        "ece": f"{scores.ece:.4f}",
        "ece_before_temperature": f"{ece_before:.4f}",
        "noise_mean_confidence": f"{scores.noise_confidence:.4f}",
        "dots_mean_confidence": f"{scores.dots_confidence:.4f}",
    }
    report = write_metadata(MODEL_PATH, metadata, heldout, max_abs_diff)
    examples = fixtures.main(MODEL_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        comparison = baseline.compare(MODEL_PATH, heldout, labels, Path(tmp))
    card.write_card(card.CardInputs(
        net=net, split=split, parts=parts, schedule=SCHEDULE, calibration=calibration,
        report=report, scores=scores, uncalibrated=uncalibrated, examples=examples,
        comparison=comparison, train_seconds=train_seconds,
        trained_on=datetime.date.today().isoformat(), seed=SEED,
    ))
    print(
        f"held-out accuracy {scores.accuracy:.4f} (lowest class {min(scores.per_class):.2f}), "
        f"transformed {scores.transformed_accuracy:.4f}, ECE {ece_before:.4f} -> "
        f"{scores.ece:.4f}, noise {scores.noise_confidence:.3f}, dots "
        f"{scores.dots_confidence:.3f}; opset {report.opset}; {report.size_bytes} bytes; "
        f"sha256 {report.sha256}; training {train_seconds:.0f}s"
    )


if __name__ == "__main__":
    main()
