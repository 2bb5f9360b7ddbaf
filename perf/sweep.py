"""The worker-count sweep: `python -m perf.sweep [--quick]` runs every config x users cell."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from perf import overhead
from perf import report
from perf.loadrun import CellRunner
from perf.loadrun import Load
from perf.loadrun import run_cell
from perf.machine import describe
from perf.sampling import wait_quiet
from perf.server import REPO_ROOT
from perf.server import ServerConfig
from perf.server import running
from perf.wrkrun import run_wrk_cell
from perf.wrkrun import wrk_path

CPUS = len(os.sched_getaffinity(0))
# Worker counts: one, the cores, cores + 1 and twice the cores (does a spare worker fill idle
# time, or only queue for the same cores?).
FULL = {"workers": sorted({1, CPUS, CPUS + 1, 2 * CPUS}), "users": [4, 16, 64], "duration": 7.0,
        "repeat": 2, "warmup": 1.0, "overhead": True, "quiet_wait": 5.0}
QUICK = {"workers": [1, 2], "users": [3], "duration": 4.0, "repeat": 1, "warmup": 0.5,
         "overhead": False, "quiet_wait": 0.0}


def int_list(text: str) -> list[int]:
    """Parse `1,2,4` into [1, 2, 4] (empty text: [])."""
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; unset options come from --config, then from the preset."""
    parser = argparse.ArgumentParser(prog="python -m perf.sweep", description=__doc__)
    add = parser.add_argument
    add("--quick", action="store_true", help="2 configs x 1 users level x 4 s (under a minute)")
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
        help="load generator (default locust); wrk stands in for CapacityUser and LivezUser "
             "at a fraction of the CPU, so the server, not the generator, sets the pace")
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
    add("--out", type=Path, help="output folder (default perf/results/<timestamp>)")
    args = parser.parse_args(argv)
    preset = {**(QUICK if args.quick else FULL), "ort_threads": [1], "gthread": [],
              "user_class": "CapacityUser", "batch_size": 32, "spawn_rate": 0.0, "slo_p99_ms": 50.0,
              "server_cpus": [], "locust_cpus": [], "locust_processes": 1, "generator": "locust"}
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


def sweep(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every round of every config and users level; return the cell rows and overhead rows."""
    plan = configs(args)
    total = args.repeat * len(plan) * len(args.users)
    raw = Path(args.out) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    load_of = {"user_class": args.user_class, "duration_s": args.duration,
               "processes": args.locust_processes, "cpus": args.locust_cpus or None,
               "batch_size": args.batch_size, "spawn_rate": args.spawn_rate}
    server_cpus = len(args.server_cpus) if args.server_cpus else CPUS
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for round_no in range(1, args.repeat + 1):
        for config in plan:
            with running(config, raw, args.server_cpus or None, args.warmup) as server:
                for users in args.users:
                    done = len(rows)
                    per_cell = (time.monotonic() - started) / done if done else args.duration + 5
                    print(f"[{done + 1}/{total}] round {round_no}/{args.repeat} · {config.label}"
                          f" · {users} users · {args.duration:g} s · about "
                          f"{per_cell * (total - done):.0f} s left", file=sys.stderr, flush=True)
                    idle_pct = wait_quiet(args.quiet_wait)
                    prefix = raw / f"r{round_no}-{config.label.replace(' ', '_')}-u{users}"
                    row = cell_runner(args)(server, config, Load(users=users, **load_of),
                                            prefix, server_cpus)
                    row.update(round=round_no, idle_cpu_pct=idle_pct,
                               model_sha256=server.model.get("sha256", ""))
                    rows.append(row)
                    print(f"    {row['rps']:.0f} req/s, p99 {row['p99_ms']:g} ms, "
                          f"{row['failures']} failures, server {row['server_us_per_req']:.0f} "
                          f"us/req, {row['generator']} CPU {row['gen_cpu_pct']:.0f}%",
                          file=sys.stderr, flush=True)
    if not args.overhead:
        return rows, []
    summary = report.summarize(rows)
    best = report.recommend(summary, args.slo_p99_ms).chosen or max(summary,
                                                                     key=lambda r: r["rps"])
    config = ServerConfig(best["workers"], best["worker_class"], best["threads"],
                          best["ort_threads"])
    capacity = Load(**{**load_of, "user_class": "CapacityUser", "users": best["users"]})
    return rows, overhead.measure(config, capacity, raw, args, server_cpus, cell_runner(args))


def cell_runner(args: argparse.Namespace) -> CellRunner:
    """Return the function that runs one cell with the chosen generator."""
    return run_wrk_cell if args.generator == "wrk" else run_cell


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep and write the report; return 0, or 1 if any cell had failures."""
    args = parse_args(argv)
    meta = {**describe(), "command": "python -m perf.sweep " + " ".join(sys.argv[1:]),
            "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    started = time.monotonic()
    rows, overhead_rows = sweep(args)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["model_sha256"] = rows[0]["model_sha256"] if rows else ""
    report.write_all(Path(args.out), rows, overhead_rows, vars(args), meta)
    print(f"done in {meta['elapsed_s']:.0f} s: {args.out}/report.md", file=sys.stderr)
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
