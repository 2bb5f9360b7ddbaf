"""Run one Locust cell headless against a running server, and measure both sides with psutil."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from perf.history import load_window
from perf.history import read_history
from perf.history import requests_at
from perf.history import steady_rps
from perf.memory import worker_memory
from perf.memory import worker_processes
from perf.noise import foreign_cpu_pct
from perf.sampling import Sample
from perf.sampling import TreeSampler
from perf.sampling import cpu_percent
from perf.sampling import idle_workers
from perf.sampling import peak_rss_mb
from perf.sampling import tree_cpu
from perf.server import REPO_ROOT
from perf.server import Server
from perf.server import ServerConfig
from perf.server import pin

GENERATOR_BOUND_PCT = 90.0  # a generator process above this much of a core cannot keep up


@dataclass(frozen=True)
class Load:
    """How Locust drives one cell."""

    user_class: str
    users: int
    duration_s: float
    processes: int = 1
    cpus: list[int] | None = None
    batch_size: int = 32
    spawn_rate: float = 0.0  # users started per second; 0: all of them within one second


CellRunner = Callable[[Server, ServerConfig, Load, Path, int], dict[str, Any]]


def locust_command(load: Load, url: str, csv_prefix: Path) -> list[str]:
    """Build the headless Locust command line for load against url."""
    command = [sys.executable, "-m", "locust", "-f", "perf/locustfile.py", "--headless",
               "-H", url, "-u", str(load.users), "-r", f"{load.spawn_rate or max(load.users, 1):g}",
               "-t", f"{load.duration_s:g}s", "--csv", str(csv_prefix), "--only-summary",
               "--loglevel", "WARNING", "--logfile", f"{csv_prefix}_locust.log"]
    if load.processes > 1:
        command += ["--processes", str(load.processes)]
    return [*command, load.user_class]


def read_aggregated(csv_prefix: Path) -> dict[str, str]:
    """Return the Aggregated row of Locust's `<prefix>_stats.csv`."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    if not rows:
        raise RuntimeError(f"no Aggregated row in {csv_prefix}_stats.csv")
    return rows[0]


def run_cell(server: Server, config: ServerConfig, load: Load, csv_prefix: Path,
             cpus: int) -> dict[str, Any]:
    """Run Locust once against server; return one summary row (latencies in ms)."""
    env = {**os.environ, "PERF_BATCH_SIZE": str(load.batch_size), "PERF_MAX_FAIL_RATIO": "1"}
    before = tree_cpu(server.proc.pid)
    proc = subprocess.Popen(locust_command(load, server.url, csv_prefix), cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    pin(proc.pid, load.cpus)
    with TreeSampler({"server": server.proc.pid, "generator": proc.pid}) as sampler:
        code = proc.wait(timeout=load.duration_s + 120)
    after = tree_cpu(server.proc.pid)
    if code not in (0, 1):  # 1 only means some requests failed
        raise RuntimeError(f"locust exited with {code}; see {csv_prefix}_locust.log")
    row = read_aggregated(csv_prefix)
    history = read_history(csv_prefix)
    # CPU per request from the steady window only: Locust's start (its calibration sends the
    # 1000 held-out digits as batches) is not load, and would weigh on a short cell.
    first, last = sampler.window(*load_window(history))
    served = requests_at(history, last.t) - requests_at(history, first.t)
    locust_pct, locust_peak = cpu_percent(first, last, "generator")
    requests = int(row["Request Count"])
    return {**common_row(server, config, load, sampler, (first, last), (before, after),
                         served, cpus),
            "generator": "locust", "requests": requests, "failures": int(row["Failure Count"]),
            "error_ratio": int(row["Failure Count"]) / requests if requests else 1.0,
            "rps": float(row["Requests/s"]),
            "steady_rps": steady_rps(history, load.users),
            "images_per_s": float(row["Requests/s"]) * (load.batch_size
                                                        if load.user_class == "BatchUser" else 1),
            "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]), "max_ms": float(row["Max Response Time"]),
            "avg_ms": float(row["Average Response Time"]),
            "gen_cpu_pct": locust_pct, "gen_peak_proc_pct": locust_peak,
            "gen_us_per_req": 1e4 * locust_pct * (last.t - first.t) / served if served else 0.0,
            "generator_bound": locust_peak > GENERATOR_BOUND_PCT}


def common_row(server: Server, config: ServerConfig, load: Load, sampler: TreeSampler,
               window: tuple[Sample, Sample], cpu: tuple[dict[int, float], dict[int, float]],
               served: float, cpus: int) -> dict[str, Any]:
    """Return the figures every cell has whatever the generator: config, server CPU, memory.

    `window` is the steady part's first and last sample and `served` the requests answered
    between them; `cpu` the server tree's CPU seconds per pid before and after the whole run.
    """
    first, last = window
    before, after = cpu
    span = max(last.t - first.t, 1e-9)
    workers = {proc.pid for proc in worker_processes(server.proc.pid)}
    server_pct, _ = cpu_percent(first, last, "server")
    gen_pct, _ = cpu_percent(first, last, "generator") if "generator" in last.cpu else (0.0, 0.0)
    machine_pct = 100 * (last.machine_busy_s - first.machine_busy_s) / span
    rss = peak_rss_mb(sampler.samples, "server")
    memory = worker_memory(server.proc.pid)
    us_per_req = 1e4 * server_pct * span / served if served > 0 else 0.0
    return {
        "config": config.label, "variant": config.variant, "workers": config.workers,
        "worker_class": config.worker_class, "threads": config.threads,
        "ort_threads": config.ort_threads, "user_class": load.user_class, "users": load.users,
        "server_cpu_pct": server_pct, "server_us_per_req": us_per_req,
        "server_rps_per_core": 1e6 / us_per_req if us_per_req else 0.0,
        "rss_per_worker_mb": sum(rss) / len(rss) if rss else 0.0, "rss_total_mb": sum(rss),
        "pss_per_worker_mb": memory["pss_mb"], "private_per_worker_mb": memory["private_mb"],
        "machine_cpu_pct": machine_pct, "idle_workers": idle_workers(before, after, workers),
        "foreign_cpu_pct": foreign_cpu_pct(first, last, server_pct + gen_pct), "cpus": cpus,
        "machine_cpus": psutil.cpu_count() or cpus,
    }
