"""Soak: a fixed request rate for a long time, watching every worker's memory and the errors.

Run: `python -m perf.soak --rate 200 --duration 600`. Writes soak.csv, soak.json, soak.md and
soak.png into perf/results/soak-<timestamp>/; exits 1 on any failed request, any worker restart,
or when a worker's RSS grew by 5% or more after the warm-up.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from perf.loadrun import Load
from perf.loadrun import locust_command
from perf.loadrun import read_aggregated
from perf.machine import describe
from perf.sampling import tree_rss
from perf.server import REPO_ROOT
from perf.server import ServerConfig
from perf.server import running
from perf.soakreport import write_outputs

USER_RPS = 10.0  # each SoakUser's pace; the user count sets the total rate
RECYCLING_VARS = ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s (default 200)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds left out of the memory growth figure (default 60)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--max-growth-pct", type=float, default=5.0)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path,
                        default=REPO_ROOT / "perf" / "results" / f"soak-{stamp}")
    return parser.parse_args(argv)


def read_history(csv_prefix: Path, started_at: float) -> list[dict[str, float]]:
    """Read Locust's per-second history: time, total requests and failures, current req/s."""
    rows: list[dict[str, float]] = []
    try:
        with open(f"{csv_prefix}_stats_history.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["Name"] == "Aggregated":
                    rows.append({"t": round(float(row["Timestamp"]) - started_at, 1),
                                 "requests": float(row["Total Request Count"]),
                                 "failures": float(row["Total Failure Count"]),
                                 "rps": float(row["Requests/s"])})
    except (OSError, ValueError, KeyError):
        pass  # not written yet (Locust flushes its history every few seconds)
    return rows


def sample(server_pid: int, started: float) -> dict[str, Any]:
    """Return the time since start, each worker's RSS in MB (by pid) and the 1-min load."""
    return {"t": round(time.monotonic() - started, 1), "load1": round(os.getloadavg()[0], 2),
            "rss_mb": {pid: round(rss / 2**20, 2) for pid, rss in tree_rss(server_pid).items()}}


def attach_history(samples: list[dict[str, Any]], history: list[dict[str, float]]) -> None:
    """Give each sample the requests, failures and req/s of the last history row before it."""
    for item in samples:
        before = [h for h in history if h["t"] <= item["t"]]
        last = before[-1] if before else {"requests": 0.0, "failures": 0.0, "rps": 0.0}
        item.update(requests=int(last["requests"]), failures=int(last["failures"]),
                    rps=last["rps"])


def progress(item: dict[str, Any], history: list[dict[str, float]], duration: float,
             pids: set[int]) -> str:
    """Format one live progress line (and flag a worker pid change)."""
    last = history[-1] if history else {"requests": 0.0, "failures": 0.0, "rps": 0.0}
    rss = " ".join(f"{pid}:{mb:.1f}" for pid, mb in sorted(item["rss_mb"].items()))
    line = (f"  {item['t']:5.0f}/{duration:.0f} s  requests {last['requests']:.0f}  failures "
            f"{last['failures']:.0f}  {last['rps']:.0f} req/s  load {item['load1']}  RSS MB {rss}")
    if pids and set(item["rss_mb"]) != pids:
        line += f"  WORKER PIDS CHANGED: {sorted(pids)} -> {sorted(item['rss_mb'])}"
    return line


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; return the samples, Locust's history and totals."""
    args.out.mkdir(parents=True, exist_ok=True)
    users = max(1, round(args.rate / USER_RPS))
    load = Load("SoakUser", users, args.duration, spawn_rate=users)
    prefix = args.out / "locust"
    samples: list[dict[str, Any]] = []
    pids: set[int] = set()
    for name in RECYCLING_VARS:  # workers must live through the whole soak
        os.environ.pop(name, None)
    with running(ServerConfig(args.workers), args.out) as server:
        command = [*locust_command(load, server.url, prefix), "--csv-full-history"]
        env = {**os.environ, "PERF_SOAK_USER_RPS": f"{args.rate / users:g}"}
        started, started_at = time.monotonic(), time.time()
        with (args.out / "locust-stdout.txt").open("wb") as out:
            locust = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        while locust.poll() is None:
            samples.append(sample(server.proc.pid, started))
            print(progress(samples[-1], read_history(prefix, started_at), args.duration, pids),
                  file=sys.stderr, flush=True)
            pids = set(samples[-1]["rss_mb"]) or pids
            time.sleep(args.sample_every)
        samples.append(sample(server.proc.pid, started))
        server_alive = server.proc.poll() is None
    history = read_history(prefix, started_at)
    attach_history(samples, history)
    totals = read_aggregated(prefix)
    return {"samples": samples, "history": history, "users": users,
            "requests": int(totals["Request Count"]), "failures": int(totals["Failure Count"]),
            "locust_exit": locust.returncode, "server_alive": server_alive,
            "model": server.model, "started_utc": datetime.datetime.fromtimestamp(
                started_at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def main(argv: list[str] | None = None) -> int:
    """Run the soak, write the outputs, and return the exit code."""
    args = parse_args(argv)
    print(f"soak: {args.rate:g} req/s for {args.duration:g} s on {args.workers} sync workers, "
          f"warm-up {args.warmup:g} s -> {args.out}", file=sys.stderr)
    machine = describe()
    data = soak(args)
    data["machine"] = machine
    data["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = write_outputs(args, data)
    print(json.dumps({k: summary[k] for k in ("requests", "failures", "mean_rps",
                                               "max_growth_pct", "worker_restarts", "passed")}))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
