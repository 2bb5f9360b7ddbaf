"""Draw the sweep's PNG charts with matplotlib (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from perf.recommend import left_out  # noqa: E402

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


def judged(summary: Rows, slo: float) -> list[tuple[dict[str, Any], str | None]]:
    """Return each config's cell the recommendation judges it by (its best eligible one, by
    projection) with None; or, for a config with none eligible, its cheapest cell and why."""
    best: dict[str, tuple[tuple[bool, float], dict[str, Any], str | None]] = {}
    for row in summary:
        why = left_out(row, slo)
        rank = (why is None, row["projected_rps"] if why is None else -row["server_us_per_req"])
        if row["config"] not in best or rank > best[row["config"]][0]:
            best[row["config"]] = (rank, row, why)
    cells = [(row, why) for _, row, why in best.values()]
    return sorted(cells, key=lambda c: (c[0]["variant"], c[0]["workers"]), reverse=True)


def server_cpu_per_request(summary: Rows, path: Path, slo: float,
                           chosen: dict[str, Any] | None) -> None:
    """Plot each config's server CPU per request (min-max over rounds), the recommended one
    marked; configs with no eligible cell hatched grey."""
    cells = judged(summary, slo)
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.45 * len(cells)))
    for y, (row, why) in enumerate(cells):
        ok = why is None
        mine = chosen is not None and row["config"] == chosen["config"]
        err = [[row["server_us_per_req"] - row["server_us_per_req_min"]],
               [row["server_us_per_req_max"] - row["server_us_per_req"]]]
        ax.barh(y, row["server_us_per_req"], xerr=err, capsize=3,
                color="C2" if mine else ("C0" if ok else "lightgrey"),
                hatch=None if ok else "//", edgecolor="black" if mine else "grey")
        usable = min(row["workers"] * max(row["ort_threads"], 1), row["cpus"])
        note = (f"{row['server_us_per_req']:.0f} us ({row['users']} users): "
                f"{row['projected_rps']:.0f} req/s on {usable} core{'s' * (usable > 1)}")
        note += "  RECOMMENDED" if mine else ("" if ok else f"  (left out: {why})")
        ax.annotate(note, (row["server_us_per_req_max"], y), xytext=(4, -3), fontsize=8,
                    textcoords="offset points", fontweight="bold" if mine else "normal")
    ax.set_yticks(range(len(cells)), [row["config"] for row, _ in cells])
    ax.set_xlim(0, 1.9 * max((r["server_us_per_req_max"] for r, _ in cells), default=1))
    ax.set(xlabel="server CPU us per request (lower is better; bars: min-max over rounds)")
    ax.set_title("Server CPU per request by config, and what it projects to (the recommendation's"
                 " figures)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def throughput_vs_workers(summary: Rows, path: Path, chosen: dict[str, Any] | None) -> None:
    """Plot median req/s against workers (min-max bars), one line per variant x users; a star
    on the recommended cell."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (variant, users), rows in series(summary, "variant", "users").items():
        x = [r["workers"] for r in rows]
        y = [r["rps"] for r in rows]
        err = [[r["rps"] - r["rps_min"] for r in rows], [r["rps_max"] - r["rps"] for r in rows]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{variant}, {users} users")
        gen = [r for r in rows if r["generator_bound"]]
        ax.scatter([r["workers"] for r in gen], [r["rps"] for r in gen], s=120,
                   facecolors="none", edgecolors="red")
    if chosen is not None:
        ax.scatter([chosen["workers"]], [chosen["rps"]], s=260, marker="*", color="gold",
                   edgecolors="black", zorder=5, label=f"recommended: {chosen['config']}")
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


def write_charts(out: Path, summary: Rows, slo: float, chosen: dict[str, Any] | None) -> list[str]:
    """Write the four PNGs into out; return their file names."""
    if not summary:
        return []
    server_cpu_per_request(summary, out / "server_cpu_per_request.png", slo, chosen)
    throughput_vs_workers(summary, out / "throughput_vs_workers.png", chosen)
    latency_vs_workers(summary, out / "latency_vs_workers.png", slo)
    throughput_vs_p99(summary, out / "throughput_vs_p99.png", slo)
    return ["server_cpu_per_request.png", "throughput_vs_workers.png", "latency_vs_workers.png",
            "throughput_vs_p99.png"]
