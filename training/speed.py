"""Time ONNX digit models side by side: `python -m training.speed OLD.onnx NEW.onnx`.

Every model gets the serving session options (app.inference.session._session_options), all in
one process; rounds interleave the models and batch sizes, and the table reports medians.
Needs only the serving dependencies (numpy, onnxruntime), no torch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.inference.session import _session_options

REPO_ROOT = Path(__file__).resolve().parent.parent
HELDOUT_PATH = REPO_ROOT / "tests" / "data" / "heldout_digits.npz"
BATCH_SIZES = (1, 32)
ROUNDS = 15
# Calls per timed block: about 50 ms of work each, so a block outlasts timer and scheduler noise.
CALLS = {1: 1500, 32: 120}


@dataclass(frozen=True)
class Timing:
    """Median microseconds per image for one model at each batch size, over all rounds."""

    label: str
    size_bytes: int
    per_image_us: dict[int, float]
    spread_us: dict[int, tuple[float, float]]


def _inputs(batch_sizes: tuple[int, ...]) -> dict[int, npt.NDArray[np.float32]]:
    """Return real held-out digits as model input, one batch per size."""
    with np.load(HELDOUT_PATH) as data:
        images = data["images"].astype(np.float32) / 255.0
    return {n: np.ascontiguousarray(images[:n].reshape(n, 1, 28, 28)) for n in batch_sizes}


def _block(session: ort.InferenceSession, batch: npt.NDArray[np.float32], calls: int) -> float:
    """Return microseconds per image over `calls` back-to-back runs of one batch."""
    feed = {session.get_inputs()[0].name: batch}
    started = time.perf_counter()
    for _ in range(calls):
        session.run(None, feed)
    return (time.perf_counter() - started) / calls / len(batch) * 1e6


def measure(
    paths: list[Path], labels: list[str], rounds: int = ROUNDS,
    batch_sizes: tuple[int, ...] = BATCH_SIZES, threads: int = 1,
) -> list[Timing]:
    """Time every model at every batch size in interleaved rounds; return the medians."""
    sessions = [ort.InferenceSession(p.read_bytes(), _session_options(threads),
                                     providers=["CPUExecutionProvider"]) for p in paths]
    inputs = _inputs(batch_sizes)
    samples: dict[tuple[int, int], list[float]] = {
        (m, n): [] for m in range(len(paths)) for n in batch_sizes}
    for session in sessions:  # warm-up, untimed
        for n in batch_sizes:
            _block(session, inputs[n], 50)
    for r in range(rounds):
        # Alternate the order each round so neither model always runs first.
        order = range(len(sessions)) if r % 2 == 0 else reversed(range(len(sessions)))
        for m in order:
            for n in batch_sizes:
                samples[m, n].append(_block(sessions[m], inputs[n], CALLS.get(n, 100)))
    return [
        Timing(
            label=label,
            size_bytes=path.stat().st_size,
            per_image_us={n: statistics.median(samples[m, n]) for n in batch_sizes},
            spread_us={n: (min(samples[m, n]), max(samples[m, n])) for n in batch_sizes},
        )
        for m, (path, label) in enumerate(zip(paths, labels, strict=True))
    ]


def table(timings: list[Timing], rounds: int = ROUNDS) -> list[str]:
    """Return the side-by-side markdown table: medians, with each round's range."""
    sizes = list(timings[0].per_image_us)
    head = " | ".join(f"batch {n}, us/image (median; range)" for n in sizes)
    lines = [f"| model | file size | {head} |", "|---" * (2 + len(sizes)) + "|"]
    for t in timings:
        cells = " | ".join(
            f"{t.per_image_us[n]:.1f} ({t.spread_us[n][0]:.1f}-{t.spread_us[n][1]:.1f})"
            for n in sizes)
        lines.append(f"| {t.label} | {t.size_bytes / 1000:.1f} KB | {cells} |")
    lines.append("")
    lines.append(f"onnxruntime {ort.__version__}, serving session options (1 intra-op thread, "
                 f"no spinning), one process, {rounds} interleaved rounds of "
                 + ", ".join(f"{CALLS.get(n, 100)} calls at batch {n}" for n in sizes) + ".")
    return lines


def main() -> None:
    """Time the models named on the command line and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX files, e.g. v3 and v4")
    parser.add_argument("--labels", nargs="*", help="a name per model (default: file names)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    labels = args.labels or [p.name for p in args.models]
    print("\n".join(table(measure(args.models, labels, args.rounds), args.rounds)))


if __name__ == "__main__":
    main()
