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
                           "peak_mb": max(s["rss_mb"].get(pid, 0.0) for s in samples),
                           "growth_pct": round((end - base) / base * 100, 2)}
    return result


def pid_changes(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """List every change of the worker pid set (a restart is reported, never hidden)."""
    changes = []
    for before, after in zip(samples, samples[1:], strict=False):
        gone, new = set(before["rss_mb"]) - set(after["rss_mb"]), set(after["rss_mb"]) - set(
            before["rss_mb"])
        if gone or new:
            changes.append({"t": after["t"], "gone": sorted(gone), "new": sorted(new)})
    return changes


def steady_rps(history: list[dict[str, float]], warmup: float) -> float:
    """Return the mean req/s from the end of the warm-up to the last history row."""
    rows = [h for h in history if h["t"] >= warmup]
    if len(rows) < 2 or rows[-1]["t"] <= rows[0]["t"]:
        return 0.0
    return round((rows[-1]["requests"] - rows[0]["requests"]) / (rows[-1]["t"] - rows[0]["t"]), 1)


def summarise(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """Reduce samples and history to the figures the soak is judged on."""
    samples = data["samples"]
    per_worker = growth(samples, args.warmup)
    changes = pid_changes(samples)
    summary = {
        "started": data["started_utc"], "rate": args.rate, "duration_s": args.duration,
        "workers": args.workers, "worker_class": "sync", "max_requests": "unset (0)",
        "users": data["users"], "warmup_s": args.warmup, "sample_every_s": args.sample_every,
        "requests": data["requests"], "failures": data["failures"],
        "error_ratio": data["failures"] / data["requests"] if data["requests"] else 0.0,
        "mean_rps": round(data["requests"] / args.duration, 1),
        "steady_rps_after_warmup": steady_rps(data["history"], args.warmup),
        "per_worker": {str(pid): w for pid, w in per_worker.items()},
        "max_growth_pct": max((w["growth_pct"] for w in per_worker.values()), default=0.0),
        "worker_restarts": sum(len(c["new"]) for c in changes), "pid_changes": changes,
        "locust_exit": data["locust_exit"], "server_alive_at_end": data["server_alive"],
        "load_avg_start": data["machine"]["load_avg"], "load_avg_end": data["load_avg_end"],
        "load1_max": max(s["load1"] for s in samples), "model": data["model"],
        "machine": data["machine"],
    }
    summary["passed"] = (summary["failures"] == 0 and data["locust_exit"] == 0
                         and bool(per_worker) and len(per_worker) == args.workers
                         and summary["max_growth_pct"] < args.max_growth_pct
                         and not changes and data["server_alive"])
    return summary


def write_chart(args: argparse.Namespace, data: dict[str, Any], path: str) -> None:
    """Draw RSS per worker over time (warm-up shaded) above req/s and failures over time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    pids = sorted({pid for s in data["samples"] for pid in s["rss_mb"]})
    for pid in pids:
        points = [(s["t"], s["rss_mb"][pid]) for s in data["samples"] if pid in s["rss_mb"]]
        top.plot(*zip(*points, strict=True), marker=".", label=f"worker {pid}")
    for axis in (top, bottom):
        axis.axvspan(0, args.warmup, color="0.9", label="warm-up" if axis is top else None)
    top.set_ylabel("RSS (MB)")
    top.legend(loc="lower right")
    top.set_title(f"Soak: {args.rate:g} req/s for {args.duration:g} s, {args.workers} workers")
    times = [h["t"] for h in data["history"]]
    bottom.plot(times, [h["rps"] for h in data["history"]], label="req/s")
    bottom.set_ylabel("req/s")
    bottom.set_xlabel("seconds")
    errors = bottom.twinx()
    errors.plot(times, [h["failures"] for h in data["history"]], color="red",
                label="failures (total)")
    errors.set_ylabel("failures (total)", color="red")
    errors.set_ylim(bottom=0, top=max([h["failures"] for h in data["history"]] + [1]) * 1.2)
    bottom.legend(loc="lower left")
    errors.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_csv(data: dict[str, Any], path: str) -> None:
    """Write one row per sample: time, load, each worker's RSS, requests, failures, req/s."""
    pids = sorted({pid for s in data["samples"] for pid in s["rss_mb"]})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "load1", *[f"rss_mb_{pid}" for pid in pids], "requests",
                         "failures", "rps"])
        for s in data["samples"]:
            writer.writerow([s["t"], s["load1"], *[s["rss_mb"].get(pid, "") for pid in pids],
                             s["requests"], s["failures"], s["rps"]])


def write_outputs(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    """Write every output file; return the summary."""
    summary = summarise(args, data)
    write_csv(data, str(args.out / "soak.csv"))
    (args.out / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_chart(args, data, str(args.out / "soak.png"))
    rows = "\n".join(f"| {pid} | {w['after_warmup_mb']:.1f} | {w['end_mb']:.1f} | "
                     f"{w['peak_mb']:.1f} | {w['growth_pct']:+.2f}% |"
                     for pid, w in summary["per_worker"].items())
    m = summary["machine"]
    (args.out / "soak.md").write_text(
        f"# Soak: {args.rate:g} req/s for {args.duration:g} s, {args.workers} sync workers\n\n"
        f"{summary['started']}, {m['cpus']} CPUs ({m['cpu']}), commit {m['git_commit']}, "
        f"load average {m['load_avg']} at start, {summary['load_avg_end']} at end "
        f"(1-min max {summary['load1_max']})\n\n"
        f"- requests {summary['requests']}, failures {summary['failures']} "
        f"(ratio {summary['error_ratio']:.4%}), mean {summary['mean_rps']} req/s, "
        f"{summary['steady_rps_after_warmup']} req/s after warm-up\n"
        f"- worker restarts {summary['worker_restarts']} (pid changes: "
        f"{summary['pid_changes'] or 'none'}), max_requests unset\n"
        f"- verdict: **{'pass' if summary['passed'] else 'FAIL'}** (no failures, no restart, "
        f"every worker's RSS growth after {args.warmup:g} s of warm-up under "
        f"{args.max_growth_pct:g}%; max growth {summary['max_growth_pct']:+.2f}%)\n\n"
        f"| worker pid | RSS after warm-up MB | RSS at end MB | peak MB | growth |\n"
        f"|---|---|---|---|---|\n{rows}\n\n![soak](soak.png)\n")
    return summary
