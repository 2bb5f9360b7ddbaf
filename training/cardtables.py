"""Markdown tables for the model card: per class, confusion, v3 beside v4, inference cost."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training import speed
from training.baseline import V3_COMMIT
from training.baseline import V3_LABEL
from training.baseline import V4_LABEL
from training.baseline import Comparison
from training.scorecard import Scores


def per_class_table(scores: Scores) -> list[str]:
    """Return rows of held-out and transformed accuracy for each digit."""
    labels = scores.labels
    clean, moved = scores.per_class, scores.transformed_per_class
    rows = ["| digit | n | correct | accuracy | transformed copy: correct | accuracy |",
            "|---|---|---|---|---|---|"]
    for c in range(10):
        n = int((labels == c).sum())
        rows.append(f"| {c} | {n} | {round(clean[c] * n)} | {clean[c]:.3f} | "
                    f"{round(moved[c] * n)} | {moved[c]:.3f} |")
    return rows


def confusion_table(matrix: npt.NDArray[np.int64]) -> list[str]:
    """Return the confusion matrix as markdown: rows true digit, columns answer."""
    rows = ["| true \\ answer | " + " | ".join(str(c) for c in range(10)) + " |",
            "|---" * 11 + "|"]
    for digit, counts in enumerate(matrix):
        cells = [f"**{n}**" if col == digit else (str(n) if n else ".")
                 for col, n in enumerate(counts)]
        rows.append(f"| **{digit}** | " + " | ".join(cells) + " |")
    return rows


def figures(scores: Scores) -> list[str]:
    """Return one model's figures as cells, in the order of the side-by-side table."""
    return [
        f"{scores.accuracy:.4f}",
        f"{min(scores.per_class):.2f}",
        f"{scores.transformed_accuracy:.4f}",
        f"{min(scores.transformed_per_class):.2f}",
        f"{scores.ece:.4f}",
        f"{scores.transformed_ece:.4f}",
        f"{scores.noise_confidence:.3f}",
        f"{scores.dots_confidence:.3f}",
    ]


def side_by_side(v4: Scores, comparison: Comparison) -> list[str]:
    """Return v3 and v4 on every fixed set, one row each."""
    head = ["held-out accuracy", "lowest class", "transformed accuracy",
            "transformed lowest class", "ECE", "transformed ECE",
            "noise mean confidence", "dots mean confidence"]
    return [
        "| model | " + " | ".join(head) + " |",
        "|---" * (len(head) + 1) + "|",
        f"| {V3_LABEL} | " + " | ".join(figures(comparison.v3)) + " |",
        f"| {V4_LABEL} | " + " | ".join(figures(v4)) + " |",
    ]


def comparison_section(v4: Scores, c: Comparison | None) -> list[str]:
    """Return the v3-beside-v4 and cost sections, or a note when v3 was not at hand."""
    if c is None:
        return ["## v3 beside v4", "", f"v3 (commit {V3_COMMIT[:7]}) was not found in git.", ""]
    return [
        "## v3 beside v4 (same sets, onnxruntime)", "",
        *side_by_side(v4, c), "",
        f"v3 is `model.onnx` at commit `{V3_COMMIT[:7]}`.", "",
        "## Cost: inference per image, v3 beside v4", "",
        *speed.table(c.timings, c.rounds), "",
        "Re-run: `git show " + V3_COMMIT[:7] + ":model.onnx > /tmp/model_v3.onnx && "
        "python -m training.speed /tmp/model_v3.onnx model.onnx`. Timings vary with the "
        "machine and its load; compare rows of one run, not runs.", "",
    ]


def floors_table(v4: Scores, c: Comparison | None) -> list[str]:
    """Return each floor the model was trained to, its figure, and whether it is met."""
    rows = [
        ("held-out accuracy >= 0.99", f"{v4.accuracy:.4f}", v4.accuracy >= 0.99),
        ("every class >= 0.98 on held-out", f"lowest {min(v4.per_class):.2f} (digit "
         f"{v4.per_class.index(min(v4.per_class))})", min(v4.per_class) >= 0.98),
        ("transformed held-out accuracy >= 0.98", f"{v4.transformed_accuracy:.4f}",
         v4.transformed_accuracy >= 0.98),
        ("ECE <= 0.02", f"{v4.ece:.4f}", v4.ece <= 0.02),
        ("mean confidence on noise <= 0.5", f"{v4.noise_confidence:.3f}",
         v4.noise_confidence <= 0.5),
        ("mean confidence on sparse dots <= 0.5", f"{v4.dots_confidence:.3f}",
         v4.dots_confidence <= 0.5),
    ]
    if c is not None:
        old, new = c.timings
        for n in old.per_image_us:
            rows.append((f"batch {n} no slower than v3 (us/image, same run)",
                         f"{new.per_image_us[n]:.1f} vs {old.per_image_us[n]:.1f}",
                         new.per_image_us[n] <= old.per_image_us[n]))
    return ["| floor | v4 | met |", "|---|---|---|",
            *[f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in rows]]

