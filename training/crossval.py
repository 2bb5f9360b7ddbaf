"""Compare training recipes by their worst class: `python -m training.crossval`.

4-fold cross-validation of the 4,000 training digits only (the held-out 1,000 are never
read): each fold trains a fresh net on 3,000 digits and classifies the other 1,000, so every
training digit gets one out-of-fold answer. The report gives, per recipe and seed, the
out-of-fold accuracy, the accuracy of each class (400 digits each) and the worst class, then
each recipe's mean over seeds. One fold takes about 50 s on 2 CPU threads (a taught recipe
about 270 s: its teacher first).

    python -m training.crossval                          # every recipe, two seeds (~90 min)
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
import numpy.typing as npt
import torch

from training.augment import Augmentation
from training.data import NUM_CLASSES
from training.data import assign_folds
from training.data import load_split
from training.loop import Schedule
from training.loop import fit
from training.net import WIDTHS
from training.net import DigitNet
from training.runtime import to_input
from training.train import SCHEDULE
from training.train import SEED
from training.train import seed_everything

FOLDS = 4
FOLD_SEED = 7
SEEDS = (SEED, SEED + 1)
TEACHER_WIDTHS = (32, 64, 128)


@dataclass(frozen=True)
class Recipe:
    """A schedule for the net and, if it is taught, the wider teacher's widths."""

    schedule: Schedule
    teacher_widths: tuple[int, int, int] | None = None
    widths: tuple[int, int, int] = WIDTHS  # the net scored: the served size unless a row says


RECIPES = {
    "v4": Recipe(SCHEDULE),
    "smooth": Recipe(replace(SCHEDULE, label_smoothing=0.05)),
    "smooth-ow25": Recipe(replace(SCHEDULE, label_smoothing=0.05, outlier_weight=0.25)),
    "smooth-rot15": Recipe(replace(SCHEDULE, label_smoothing=0.05, augmentation=Augmentation(
        max_rotation_deg=15.0, max_shear=0.1))),
    "smooth-e250": Recipe(replace(SCHEDULE, label_smoothing=0.05, epochs=250)),
    # A teacher 10x the work (32, 64, 128 channels) trained with v4's recipe on the same fold,
    # then the served-size net taught by it on the very same distorted digits. The teacher's
    # own out-of-fold answers are scored too, as the row "distill:teacher".
    "distill": Recipe(replace(SCHEDULE, label_smoothing=0.05, outlier_weight=0.25,
                              distill_weight=0.7, distill_temperature=2.0), TEACHER_WIDTHS),
    # v4's recipe on a net 2.8x its cost per image (training.widths), no teacher: what a
    # relaxed speed floor would buy.
    "v4-16-32-128": Recipe(SCHEDULE, widths=(16, 32, 128)),
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


def score(recipe: str, seed: int, predicted: npt.NDArray[np.int64],
          labels: npt.NDArray[np.int64], seconds: float) -> Result:
    """Score out-of-fold answers: overall and per class."""
    per_class = tuple(float((predicted[labels == d] == d).mean()) for d in range(NUM_CLASSES))
    return Result(recipe, seed, per_class, float((predicted == labels).mean()), seconds)


def cross_validate(name: str, seed: int) -> list[Result]:
    """Train one net per fold with the recipe; score every training digit out of fold.

    Returns the served-size net's result, then its teacher's if the recipe has one.
    """
    recipe = RECIPES[name]
    split = load_split()
    images, labels = split.train_images, split.train_labels
    folds = assign_folds(labels, FOLDS, FOLD_SEED)
    predicted = np.zeros(len(labels), dtype=np.int64)
    taught = np.zeros(len(labels), dtype=np.int64)
    started = time.perf_counter()
    for fold in range(FOLDS):
        train, test = folds != fold, folds == fold
        x, y = torch.from_numpy(to_input(images[train])), torch.from_numpy(labels[train])
        held = torch.from_numpy(to_input(images[test]))
        teacher = None
        if recipe.teacher_widths:
            generator = seed_everything(seed)  # before the net: its initial weights too
            teacher = fit(DigitNet(widths=recipe.teacher_widths), x, y, SCHEDULE, generator,
                          name=f"{name}/{seed}/fold {fold} teacher")
            with torch.no_grad():
                taught[test] = teacher(held).argmax(1).numpy()
        generator = seed_everything(seed)
        net = fit(DigitNet(widths=recipe.widths), x, y, recipe.schedule, generator,
                  name=f"{name}/{seed}/fold {fold}", teacher=teacher)
        with torch.no_grad():
            predicted[test] = net(held).argmax(1).numpy()
    seconds = time.perf_counter() - started
    results = [score(name, seed, predicted, labels, seconds)]
    if recipe.teacher_widths:
        results.append(score(f"{name}:teacher", seed, taught, labels, seconds))
    return results


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
            for result in cross_validate(recipe, seed):
                results.append(result)
                low, digit = result.worst
                print(f"{result.recipe} seed {seed}: accuracy {result.accuracy:.4f}, worst "
                      f"class {digit} {low:.4f} ({result.seconds:.0f} s)", file=sys.stderr,
                      flush=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
