"""Compare training recipes by their worst class: `python -m training.crossval`.

4-fold cross-validation of the 4,000 training digits only (the held-out 1,000 are never
read): each fold trains a fresh net on 3,000 digits and classifies the other 1,000, so every
training digit gets one out-of-fold answer. The report gives, per recipe and seed, the
out-of-fold accuracy, the accuracy of each class (400 digits each) and the worst class, then
each recipe's mean over seeds. One fold takes about 50 s on 2 CPU threads.

    python -m training.crossval                          # every recipe, two seeds (~40 min)
    python -m training.crossval --recipes v4,smooth-ow25 --seeds 20261208
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from dataclasses import replace

import numpy as np
import torch

from training.augment import Augmentation
from training.data import NUM_CLASSES
from training.data import assign_folds
from training.data import load_split
from training.loop import fit
from training.net import DigitNet
from training.runtime import to_input
from training.train import SCHEDULE
from training.train import SEED
from training.train import seed_everything

FOLDS = 4
FOLD_SEED = 7
SEEDS = (SEED, SEED + 1)
RECIPES = {
    "v4": SCHEDULE,
    "smooth": replace(SCHEDULE, label_smoothing=0.05),
    "smooth-ow25": replace(SCHEDULE, label_smoothing=0.05, outlier_weight=0.25),
    "smooth-rot15": replace(SCHEDULE, label_smoothing=0.05, augmentation=Augmentation(
        max_rotation_deg=15.0, max_shear=0.1)),
    "smooth-e250": replace(SCHEDULE, label_smoothing=0.05, epochs=250),
}


@dataclass(frozen=True)
class Result:
    """One recipe trained with one seed: its out-of-fold answers scored."""

    recipe: str
    seed: int
    per_class: tuple[float, ...]
    accuracy: float
    seconds: float

    @property
    def worst(self) -> tuple[float, int]:
        """Return the lowest class accuracy and its digit."""
        return min(self.per_class), int(np.argmin(self.per_class))


def cross_validate(recipe: str, seed: int) -> Result:
    """Train one net per fold with the recipe; score every training digit out of fold."""
    split = load_split()
    images, labels = split.train_images, split.train_labels
    folds = assign_folds(labels, FOLDS, FOLD_SEED)
    predicted = np.zeros(len(labels), dtype=np.int64)
    started = time.perf_counter()
    for fold in range(FOLDS):
        train, test = folds != fold, folds == fold
        generator = seed_everything(seed)
        net = DigitNet()
        fit(net, torch.from_numpy(to_input(images[train])), torch.from_numpy(labels[train]),
            RECIPES[recipe], generator, name=f"{recipe}/{seed}/fold {fold}")
        with torch.no_grad():
            predicted[test] = net(torch.from_numpy(to_input(images[test]))).argmax(1).numpy()
    per_class = tuple(float((predicted[labels == d] == d).mean()) for d in range(NUM_CLASSES))
    return Result(recipe, seed, per_class, float((predicted == labels).mean()),
                  time.perf_counter() - started)


def report(results: list[Result]) -> str:
    """Return Markdown: a row per run, then each recipe's mean over its seeds."""
    lines = ["| recipe | seed | accuracy | worst class | "
             + " | ".join(str(d) for d in range(NUM_CLASSES)) + " |",
             "|---|---|---|---|" + "---|" * NUM_CLASSES]
    for r in results:
        low, digit = r.worst
        lines.append(f"| {r.recipe} | {r.seed} | {r.accuracy:.4f} | {low:.4f} ({digit}) | "
                     + " | ".join(f"{a:.4f}" for a in r.per_class) + " |")
    lines += ["", "| recipe | seeds | mean accuracy | mean worst class |", "|---|---|---|---|"]
    for recipe in dict.fromkeys(r.recipe for r in results):
        runs = [r for r in results if r.recipe == recipe]
        lines.append(f"| {recipe} | {len(runs)} | "
                     f"{statistics.mean(r.accuracy for r in runs):.4f} | "
                     f"{statistics.mean(r.worst[0] for r in runs):.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Cross-validate the chosen recipes with the chosen seeds and print the report."""
    parser = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join(RECIPES),
                        help=f"comma-separated subset of {','.join(RECIPES)}")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="comma-separated training seeds (default: %(default)s)")
    args = parser.parse_args(argv)
    recipes = args.recipes.split(",")
    if unknown := sorted(set(recipes) - set(RECIPES)):
        parser.error(f"unknown recipes: {unknown}")
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error("seeds must be integers")
    results = []
    for recipe in recipes:
        for seed in seeds:
            results.append(cross_validate(recipe, seed))
            low, digit = results[-1].worst
            print(f"{recipe} seed {seed}: accuracy {results[-1].accuracy:.4f}, worst class "
                  f"{digit} {low:.4f} ({results[-1].seconds:.0f} s)", file=sys.stderr,
                  flush=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
