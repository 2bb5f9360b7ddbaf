"""Soak: a fixed request rate for a long time, watching every worker's memory and the errors.

Run: `python -m perf.soak --rate 200 --duration 600`. Writes soak.csv, soak.json, soak.md and
soak.png into perf/results/soak-<timestamp>/; exits 1 on any failed request or when a worker's
RSS grew by 5% or more after the warm-up.
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
from perf.sampling import tree_rss
from perf.server import REPO_ROOT
from perf.server import ServerConfig
from perf.server import running
from perf.soakreport import write_outputs

USER_RPS = 10.0  # each SoakUser's pace; the user count sets the total rate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s (default 200)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds left out of the memory growth figure (default 60)")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--max-growth-pct", type=float, default=5.0)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path,
                        default=REPO_ROOT / "perf" / "results" / f"soak-{stamp}")
    return parser.parse_args(argv)


def sample_rss(server_pid: int, started: float) -> dict[str, Any]:
    """Return the time since start and each worker's RSS in MB."""
    return {"t": round(time.monotonic() - started, 1),
            "rss_mb": {pid: round(rss / 2**20, 2) for pid, rss in tree_rss(server_pid).items()}}


def read_history(csv_prefix: Path, started_at: float) -> list[dict[str, float]]:
    """Read Locust's per-second history: time, total requests and failures, current req/s."""
    rows = []
    with open(f"{csv_prefix}_stats_history.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                rows.append({"t": round(float(row["Timestamp"]) - started_at, 1),
                             "requests": float(row["Total Request Count"]),
                             "failures": float(row["Total Failure Count"]),
                             "rps": float(row["Requests/s"])})
    return rows


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; return the samples and Locust's history."""
    args.out.mkdir(parents=True, exist_ok=True)
    users = max(1, round(args.rate / USER_RPS))
    load = Load("SoakUser", users, args.duration, spawn_rate=users)
    prefix = args.out / "locust"
    samples = []
    with running(ServerConfig(args.workers), args.out) as server:
        command = [*locust_command(load, server.url, prefix), "--csv-full-history"]
        env = {**os.environ, "PERF_SOAK_USER_RPS": f"{args.rate / users:g}"}
        started, started_at = time.monotonic(), time.time()
        locust = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
        while locust.poll() is None:
            samples.append(sample_rss(server.proc.pid, started))
            elapsed = samples[-1]["t"]
            print(f"  {elapsed:5.0f}/{args.duration:.0f} s  RSS MB "
                  f"{sorted(samples[-1]['rss_mb'].values())}", file=sys.stderr, flush=True)
            time.sleep(args.sample_every)
        samples.append(sample_rss(server.proc.pid, started))
    totals = read_aggregated(prefix)
    return {"samples": samples, "history": read_history(prefix, started_at),
            "requests": int(totals["Request Count"]), "failures": int(totals["Failure Count"]),
            "locust_exit": locust.returncode, "users": users}


def main(argv: list[str] | None = None) -> int:
    """Run the soak, write the outputs, and return the exit code."""
    args = parse_args(argv)
    print(f"soak: {args.rate:g} req/s for {args.duration:g} s on {args.workers} workers -> "
          f"{args.out}", file=sys.stderr)
    summary = write_outputs(args, soak(args))
    print(json.dumps({k: summary[k] for k in ("requests", "failures", "max_growth_pct",
                                               "worker_restarts", "passed")}))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
