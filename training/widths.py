"""What wider nets cost to serve: `python -m training.widths 8,16,80 32,64,128 ...`.

Builds DigitNet at each given channel widths (untrained weights: the cost of a graph does not
depend on its values), exports it as the served model would be, and times every one beside v3
(`model.onnx` at V3_COMMIT) and the served `model.onnx` with training.speed, all in one process.
It answers "how much capacity fits in the issue's budget" before any training is spent on it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from training import speed
from training.baseline import V3_COMMIT
from training.baseline import fetch_v3
from training.export import export_graph
from training.net import DigitNet

SERVED = speed.REPO_ROOT / "model.onnx"
SAMPLE_SEED = 20261201


def parse_widths(text: str) -> tuple[int, int, int]:
    """Parse "8,16,64" into the three conv widths."""
    parts = tuple(int(part) for part in text.split(","))
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive widths like 8,16,64: {text}")
    return parts[0], parts[1], parts[2]


def export_untrained(widths: tuple[int, int, int], directory: Path) -> Path:
    """Export an untrained DigitNet of these widths (softmax included); return its path."""
    torch.manual_seed(SAMPLE_SEED)
    path = directory / ("widths-" + "-".join(map(str, widths)) + ".onnx")
    images = np.random.default_rng(SAMPLE_SEED).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    export_graph(DigitNet(widths=widths).eval(), path, images)
    return path


def main(argv: list[str] | None = None) -> int:
    """Time v3, the served model and each candidate width; print the table."""
    parser = argparse.ArgumentParser(prog="python -m training.widths", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("widths", nargs="+", type=parse_widths, help="conv widths, e.g. 8,16,80")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (%(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        v3 = fetch_v3(Path(tmp) / "model_v3.onnx")
        if v3 is None:
            parser.error(f"v3 ({V3_COMMIT[:7]}) is not in this checkout's git history")
        paths = [v3, SERVED]
        labels = [f"v3 (model.onnx at {V3_COMMIT[:7]})", "served model.onnx"]
        for widths in args.widths:
            paths.append(export_untrained(widths, Path(tmp)))
            labels.append("untrained " + "-".join(map(str, widths)))
        timings = speed.measure(paths, labels, rounds=args.rounds)
    print("\n".join(speed.table(timings, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
