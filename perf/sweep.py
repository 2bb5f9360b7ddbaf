"""The worker-count sweep: `python -m perf.sweep [--quick]` runs every config x users cell."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from perf import noise
from perf import overhead
from perf import report
from perf.loadrun import CellRunner
from perf.loadrun import Load
from perf.loadrun import run_cell
from perf.machine import cpu_probe_ms
from perf.machine import describe
from perf.recommend import recommend
from perf.sampling import wait_quiet
from perf.server import Server
from perf.server import ServerConfig
from perf.server import running
from perf.sweepargs import CPUS
from perf.sweepargs import configs
from perf.sweepargs import parse_args
from perf.wrkrun import run_wrk_cell


def sweep(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every round of every config and users level; return the cell rows and overhead rows."""
    plan = configs(args)
    total = args.repeat * len(plan) * len(args.users)
    raw = Path(args.out) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    load_of = {"user_class": args.user_class, "duration_s": args.duration,
               "processes": args.locust_processes, "cpus": args.locust_cpus or None,
               "batch_size": args.batch_size, "spawn_rate": args.spawn_rate}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for round_no in range(1, args.repeat + 1):
        for config in plan:
            with running(config, raw, args.server_cpus or None, args.warmup) as server:
                for users in args.users:
                    done = len({(r["round"], r["config"], r["users"]) for r in rows})
                    per_run = (time.monotonic() - started) / done if done else args.duration + 3
                    print(f"[{done + 1}/{total}] round {round_no}/{args.repeat} · {config.label}"
                          f" · {users} users · {args.duration:g} s · about "
                          f"{per_run * (total - done):.0f} s left", file=sys.stderr, flush=True)
                    load = Load(users=users, **load_of)
                    for attempt in range(args.noisy_retries + 1):
                        # Waits and retries stop once the runs left would pass --time-budget.
                        spare = (not args.time_budget or time.monotonic() - started
                                 + per_run * (total - done) < args.time_budget)
                        if attempt and not spare:
                            break
                        prefix = raw / (f"r{round_no}-{config.label.replace(' ', '_')}-u{users}"
                                        + (f"-retry{attempt}" if attempt else ""))
                        rows.append(run_once(args, server, config, load, prefix, round_no,
                                             args.quiet_wait if spare else 0.0))
                        if not rows[-1]["noisy"]:
                            break
    if not args.overhead:
        return rows, []
    summary = report.summarize(rows)
    best = recommend(summary, args.slo_p99_ms).chosen or max(summary, key=lambda r: r["rps"])
    config = ServerConfig(best["workers"], best["worker_class"], best["threads"],
                          best["ort_threads"])
    capacity = Load(**{**load_of, "user_class": "CapacityUser", "users": best["users"]})
    return rows, overhead.measure(config, capacity, raw, args, server_cpus(args),
                                  cell_runner(args))


def server_cpus(args: argparse.Namespace) -> int:
    """Return how many CPUs the server may use."""
    return len(args.server_cpus) if args.server_cpus else CPUS


def run_once(args: argparse.Namespace, server: Server, config: ServerConfig, load: Load,
             prefix: Path, round_no: int, quiet_wait: float) -> dict[str, Any]:
    """Wait (up to quiet_wait s) for a quiet machine, run one cell, judge its noise, print it."""
    idle_pct = wait_quiet(quiet_wait, below=noise.NOISY_PCT)
    row = cell_runner(args)(server, config, load, prefix, server_cpus(args))
    row.update(round=round_no, idle_cpu_pct=idle_pct, model_sha256=server.model.get("sha256", ""))
    row["noisy"] = noise.is_noisy(row)
    print(f"    {row['rps']:.0f} req/s, p99 {row['p99_ms']:g} ms, {row['failures']} failures, "
          f"server {row['server_us_per_req']:.0f} us/req, {row['generator']} CPU "
          f"{row['gen_cpu_pct']:.0f}%, foreign CPU {row['foreign_cpu_pct']:.0f}% "
          f"(before {idle_pct:.0f}%)" + (": NOISY" if row["noisy"] else ""),
          file=sys.stderr, flush=True)
    return row


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
    meta["cpu_probe_end_ms"] = cpu_probe_ms()
    meta["model_sha256"] = rows[0]["model_sha256"] if rows else ""
    report.write_all(Path(args.out), rows, overhead_rows, vars(args), meta)
    print(f"done in {meta['elapsed_s']:.0f} s: {args.out}/report.md", file=sys.stderr)
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
