"""Draw the sweep's PNG charts with matplotlib (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Rows = list[dict[str, Any]]


def series(summary: Rows, *keys: str) -> dict[tuple[Any, ...], Rows]:
    """Group rows by keys, each group sorted by workers then users."""
    groups: dict[tuple[Any, ...], Rows] = {}
    for row in sorted(summary, key=lambda r: (r["workers"], r["users"])):
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def _finish(fig: Figure, ax: Axes, path: Path) -> None:
    """Start the y axis at 0, add a grid and legend, save the figure and free it."""
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def throughput_vs_workers(summary: Rows, path: Path) -> None:
    """Plot median req/s against workers (min-max bars), one line per variant x users."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (variant, users), rows in series(summary, "variant", "users").items():
        x = [r["workers"] for r in rows]
        y = [r["rps"] for r in rows]
        err = [[r["rps"] - r["rps_min"] for r in rows], [r["rps_max"] - r["rps"] for r in rows]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{variant}, {users} users")
        gen = [r for r in rows if r["generator_bound"]]
        ax.scatter([r["workers"] for r in gen], [r["rps"] for r in gen], s=120,
                   facecolors="none", edgecolors="red")
    ax.set(xlabel="gunicorn workers", ylabel="requests/s (median, min-max)",
           title="Throughput vs workers (red ring: generator-bound)")
    ax.set_xticks(sorted({r["workers"] for r in summary}))
    _finish(fig, ax, path)


def latency_vs_workers(summary: Rows, path: Path, slo: float) -> None:
    """Plot p50/p95/p99 against workers, one panel per users level."""
    levels = sorted({r["users"] for r in summary})
    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 4), squeeze=False)
    for ax, users in zip(axes[0], levels, strict=True):
        groups = series([r for r in summary if r["users"] == users], "variant")
        for colour, ((variant,), rows) in enumerate(groups.items()):
            for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
                ax.plot([r["workers"] for r in rows], [r[key] for r in rows], style, marker="o",
                        color=f"C{colour}", label=f"{key[:3]} {variant}")
        ax.axhline(slo, color="red", linewidth=1, alpha=0.6, label=f"p99 budget {slo:g} ms")
        ax.set(title=f"{users} users", xlabel="gunicorn workers", ylabel="ms")
        ax.set_xticks(sorted({r["workers"] for r in summary}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Latency percentiles vs workers")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def throughput_vs_p99(summary: Rows, path: Path, slo: float) -> None:
    """Plot req/s against p99 for each config across users levels (a knee per config)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (config,), rows in series(summary, "config").items():
        rows = sorted(rows, key=lambda r: r["users"])
        ax.plot([r["p99_ms"] for r in rows], [r["rps"] for r in rows], marker="o", label=config)
        for r in rows:
            ax.annotate(str(r["users"]), (r["p99_ms"], r["rps"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.axvline(slo, color="red", linewidth=1, label=f"p99 budget {slo:g} ms")
    ax.set(xlabel="p99 ms (labels: users)", ylabel="requests/s",
           title="Throughput vs p99 per config")
    _finish(fig, ax, path)


def write_charts(out: Path, summary: Rows, slo: float) -> list[str]:
    """Write the three PNGs into out; return their file names."""
    if not summary:
        return []
    throughput_vs_workers(summary, out / "throughput_vs_workers.png")
    latency_vs_workers(summary, out / "latency_vs_workers.png", slo)
    throughput_vs_p99(summary, out / "throughput_vs_p99.png", slo)
    return ["throughput_vs_workers.png", "latency_vs_workers.png", "throughput_vs_p99.png"]
