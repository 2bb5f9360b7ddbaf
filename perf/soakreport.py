"""Soak outputs: soak.csv, soak.json, soak.md and the memory/errors chart."""

from __future__ import annotations

import argparse
import csv
import json
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def growth(samples: list[dict[str, Any]], warmup: float) -> dict[int, dict[str, float]]:
    """Return, per worker, RSS after the warm-up, RSS at the end and the growth in %."""
    after = next((s for s in samples if s["t"] >= warmup), samples[-1])
    last = samples[-1]
    result = {}
    for pid, base in after["rss_mb"].items():
        if pid in last["rss_mb"]:
            end = last["rss_mb"][pid]
            result[pid] = {"after_warmup_mb": base, "end_mb": end,
                           "growth_pct": round((end - base) / base * 100, 2)}
    return result


def restarts(samples: list[dict[str, Any]]) -> int:
    """Count worker pids that appeared after the first sample (a restart is never hidden)."""
    first = set(samples[0]["rss_mb"])
    return len({pid for s in samples for pid in s["rss_mb"]} - first)


def summarise(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """Reduce samples and history to the figures the soak is judged on."""
    samples = data["samples"]
    per_worker = growth(samples, args.warmup)
    max_growth = max((w["growth_pct"] for w in per_worker.values()), default=0.0)
    summary = {
        "rate": args.rate, "duration_s": args.duration, "workers": args.workers,
        "users": data["users"], "warmup_s": args.warmup,
        "requests": data["requests"], "failures": data["failures"],
        "error_ratio": data["failures"] / data["requests"] if data["requests"] else 0.0,
        "mean_rps": round(data["requests"] / args.duration, 1),
        "per_worker": {str(pid): w for pid, w in per_worker.items()},
        "max_growth_pct": max_growth, "worker_restarts": restarts(samples),
    }
    summary["passed"] = (summary["failures"] == 0 and data["locust_exit"] == 0
                         and max_growth < args.max_growth_pct and summary["worker_restarts"] == 0)
    return summary


def write_chart(args: argparse.Namespace, data: dict[str, Any], path: str) -> None:
    """Draw RSS per worker over time (warm-up shaded) above req/s and failures over time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    pids = sorted({pid for s in data["samples"] for pid in s["rss_mb"]})
    for pid in pids:
        points = [(s["t"], s["rss_mb"][pid]) for s in data["samples"] if pid in s["rss_mb"]]
        top.plot(*zip(*points, strict=True), label=f"worker {pid}")
    for axis in (top, bottom):
        axis.axvspan(0, args.warmup, color="0.9", label="warm-up" if axis is top else None)
    top.set_ylabel("RSS (MB)")
    top.legend(loc="lower right")
    top.set_title(f"Soak: {args.rate:g} req/s for {args.duration:g} s, {args.workers} workers")
    times = [h["t"] for h in data["history"]]
    bottom.plot(times, [h["rps"] for h in data["history"]], label="req/s")
    bottom.plot(times, [h["failures"] for h in data["history"]], color="red",
                label="failures (total)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """Write every output file; return the summary."""
    summary = summarise(args, data)
    pids = sorted({pid for s in data["samples"] for pid in s["rss_mb"]})
    with (args.out / "soak.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", *[f"rss_mb_{pid}" for pid in pids]])
        for s in data["samples"]:
            writer.writerow([s["t"], *[s["rss_mb"].get(pid, "") for pid in pids]])
    (args.out / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_chart(args, data, str(args.out / "soak.png"))
    rows = "\n".join(f"| {pid} | {w['after_warmup_mb']:.1f} | {w['end_mb']:.1f} | "
                     f"{w['growth_pct']:+.2f}% |" for pid, w in summary["per_worker"].items())
    (args.out / "soak.md").write_text(
        f"# Soak: {args.rate:g} req/s for {args.duration:g} s, {args.workers} sync workers\n\n"
        f"- requests {summary['requests']}, failures {summary['failures']}, "
        f"mean {summary['mean_rps']} req/s, worker restarts {summary['worker_restarts']}\n"
        f"- verdict: **{'pass' if summary['passed'] else 'FAIL'}** (no failures, every "
        f"worker's RSS growth after {args.warmup:g} s of warm-up under "
        f"{args.max_growth_pct:g}%)\n\n"
        f"| worker | RSS after warm-up MB | RSS at end MB | growth |\n|---|---|---|---|\n"
        f"{rows}\n\n![soak](soak.png)\n")
    return summary
