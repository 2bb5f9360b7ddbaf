"""The sweep's command line: presets (full and --quick), options, and the configs they name."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from perf.server import REPO_ROOT
from perf.server import ServerConfig
from perf.wrkrun import wrk_path

DESCRIPTION = ("The worker-count sweep: every config x users cell, repeated and interleaved; "
               "a report that opens with the setting to use.")
CPUS = len(os.sched_getaffinity(0))
# Worker counts: one, the cores, cores + 1 and twice the cores (does a spare worker fill idle
# time, or only queue for the same cores?).
FULL = {"workers": sorted({1, CPUS, CPUS + 1, 2 * CPUS}), "users": [4, 16, 64], "duration": 7.0,
        "repeat": 2, "warmup": 1.0, "overhead": True, "quiet_wait": 5.0, "noisy_retries": 1,
        "time_budget": 0.0}
# One worker, one per core, one more, loaded by wrk when installed: it leaves the server the
# cores (Locust, on the same cores, takes most of one), so every cell can fill the machine.
QUICK = {"workers": sorted({1, CPUS, CPUS + 1}), "users": [8], "duration": 5.0, "repeat": 3,
         "warmup": 0.5, "overhead": False, "quiet_wait": 3.0, "noisy_retries": 1,
         "time_budget": 110.0, "generator": "wrk" if wrk_path() else "locust"}


def int_list(text: str) -> list[int]:
    """Parse `1,2,4` into [1, 2, 4] (empty text: [])."""
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; unset options come from --config, then from the preset."""
    parser = argparse.ArgumentParser(prog="python -m perf.sweep", description=DESCRIPTION)
    add = parser.add_argument
    add("--quick", action="store_true",
        help=f"{QUICK['workers']} sync workers x {QUICK['users'][0]} connections x 5 s x 3 "
             "rounds, wrk when installed (about a minute)")
    add("--config", type=Path, help="JSON file of option values (keys as below, _ for -)")
    add("--workers", type=int_list, help=f"worker counts (default {FULL['workers']})")
    add("--ort-threads", type=int_list, default=None, help="onnxruntime threads per worker (1)")
    add("--gthread", type=int_list, default=None,
        help="also run the gthread worker class with these thread counts, e.g. 4")
    add("--users", type=int_list, help=f"users levels, one cell each (default {FULL['users']})")
    add("--duration", type=float, help="seconds of load per cell (default 7)")
    add("--repeat", type=int, help="interleaved rounds; the report gives medians (default 2)")
    add("--warmup", type=float, help="seconds of warm-up requests after /readyz (default 1)")
    add("--generator", choices=("locust", "wrk"), default=None,
        help="load generator (default locust; --quick: wrk when installed); wrk stands in for "
             "CapacityUser and LivezUser at a fraction of the CPU, so the server, not the "
             "generator, sets the pace")
    add("--user-class", default=None, help="Locust user class (default CapacityUser)")
    add("--spawn-rate", type=float, default=None,
        help="users started per second (default: all within 1 s)")
    add("--batch-size", type=int, default=None, help="images per BatchUser request (32)")
    add("--slo-p99-ms", type=float, default=None, help="latency budget for the choice (50)")
    add("--server-cpus", type=int_list, default=None, help="pin gunicorn to these CPUs")
    add("--locust-cpus", type=int_list, default=None, help="pin Locust to these CPUs")
    add("--locust-processes", type=int, default=None, help="Locust --processes (default 1)")
    add("--overhead", action=argparse.BooleanOptionalAction, default=None,
        help="also measure /predict vs /livez capacity at the recommended config")
    add("--quiet-wait", type=float, default=None,
        help="before each cell, wait up to this many s for other load to stop (default 5)")
    add("--noisy-retries", type=int, default=None,
        help="run a noisy cell again up to this many times (default 1)")
    add("--time-budget", type=float, default=None,
        help="s: stop waiting for quiet and retrying noisy cells once the runs left would pass "
             "it (default none; --quick 110)")
    add("--out", type=Path, help="output folder (default perf/results/<timestamp>)")
    args = parser.parse_args(argv)
    preset = {"ort_threads": [1], "gthread": [], "user_class": "CapacityUser", "batch_size": 32,
              "spawn_rate": 0.0, "slo_p99_ms": 50.0, "server_cpus": [], "locust_cpus": [],
              "locust_processes": 1, "generator": "locust", **(QUICK if args.quick else FULL)}
    if args.config:
        preset.update(json.loads(args.config.read_text()))
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.generator == "wrk" and not wrk_path():
        parser.error("--generator wrk: wrk is not installed (apt-get install wrk)")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out = args.out or REPO_ROOT / "perf" / "results" / stamp
    return args


def configs(args: argparse.Namespace) -> list[ServerConfig]:
    """List the server configs: sync for each workers x ORT threads, then gthread ones."""
    found = [ServerConfig(w, ort_threads=o) for o in args.ort_threads for w in args.workers]
    found += [ServerConfig(w, "gthread", t) for t in args.gthread for w in args.workers]
    return found
