"""The model card's PNGs: confusion matrix and reliability diagram (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from training.calibration import ReliabilityBins  # noqa: E402

# No timestamps in the files, so a retrain that gives the same figures gives the same bytes.
PNG_METADATA = {"Software": None}


def confusion_png(matrix: npt.NDArray[np.int64], title: str, path: Path) -> None:
    """Draw counts (10, 10), rows true digit and columns answer, with every count written in."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    # A log-like scale keeps the few mistakes visible beside the full diagonal.
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if row == col else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set(xticks=range(10), yticks=range(10), xlabel="answer", ylabel="true digit", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def reliability_png(curves: dict[str, ReliabilityBins], title: str, path: Path) -> None:
    """Draw accuracy against mean confidence per bin, one line per curve, with bin counts."""
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5.2, 6), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    width = 1 / len(next(iter(curves.values())).counts) / (len(curves) + 1)
    for k, (label, bins) in enumerate(curves.items()):
        used = bins.counts > 0
        ax.plot(bins.confidence[used], bins.accuracy[used], marker="o", label=label)
        counts.bar(bins.edges[:-1] + (k + 0.5) * width, bins.counts, width=width, label=label)
    ax.set(ylabel="accuracy in bin", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    counts.set(xlabel="confidence (top probability)", ylabel="answers", yscale="log")
    counts.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
