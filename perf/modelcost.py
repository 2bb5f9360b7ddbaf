"""What a model file costs per image through the service's model layer, files side by side.

Run: `python -m perf.modelcost model.onnx mine.onnx --batch 32`. Each file is loaded as a worker
loads it (its contract: layout, fixed batch, kind of scores) and asked for probabilities of the
same held-out digits; rounds interleave the files and the table gives medians (min-max) in
microseconds per image. A model with a fixed batch is run in slices of it, as when serving.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from app.inference.model import DigitClassifier
from app.inference.preprocess import to_batch
from perf.digits import read_digits

ROUNDS = 15
BLOCK_S = 0.05  # each timed block: about this much work, to outlast timer noise


def per_image_us(model: DigitClassifier, images: int, calls: int) -> float:
    """Time calls predictions of a batch of images; return microseconds per image."""
    batch = to_batch(np.array(read_digits().rows[:images]))
    started = time.perf_counter_ns()
    for _ in range(calls):
        model.probabilities(batch)
    return (time.perf_counter_ns() - started) / 1000 / calls / images


def main() -> None:
    """Time each file at the batch size asked for; print a table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="MODEL")
    parser.add_argument("--batch", type=int, default=32, help="images a request (32)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    models = [DigitClassifier.load(path, threads=1) for path in args.paths]
    calls = [max(1, round(BLOCK_S * 1e6 / (per_image_us(model, args.batch, 3) * args.batch)))
             for model in models]
    timings: list[list[float]] = [[] for _ in models]
    for _ in range(args.rounds):
        for model, count, found in zip(models, calls, timings, strict=True):
            found.append(per_image_us(model, args.batch, count))
    print(f"| model | contract | us per image, batch of {args.batch} |\n|---|---|---|")
    for path, model, found in zip(args.paths, models, timings, strict=True):
        terms = model.contract
        shape = f"{terms.layout}, batch {terms.batch or 'dynamic'}, {terms.output_kind}"
        print(f"| {path.name} | {shape} | {statistics.median(found):.1f} "
              f"({min(found):.1f}-{max(found):.1f}) |")


if __name__ == "__main__":
    main()
