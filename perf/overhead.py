"""The app-overhead measurement: /predict capacity against /livez capacity, same server."""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from perf.loadrun import CellRunner
from perf.loadrun import Load
from perf.noise import NOISY_PCT
from perf.noise import is_noisy
from perf.sampling import wait_quiet
from perf.server import ServerConfig
from perf.server import running

KEYS = ("rps", "server_us_per_req", "gen_cpu_pct", "gen_peak_proc_pct", "p99_ms")


def measure(config: ServerConfig, capacity: Load, raw: Path, args: argparse.Namespace,
            server_cpus: int, run_cell: CellRunner) -> list[dict[str, Any]]:
    """Alternate CapacityUser (/predict) and LivezUser cells on one server; return the rows."""
    rows: list[dict[str, Any]] = []
    print(f"overhead: /predict vs /livez at {config.label}, {capacity.users} users",
          file=sys.stderr, flush=True)
    with running(config, raw, args.server_cpus or None, args.warmup) as server:
        for round_no in range(1, max(2, args.repeat) + 1):
            for user_class in ("CapacityUser", "LivezUser"):
                idle_pct = wait_quiet(args.quiet_wait, below=NOISY_PCT)
                row = run_cell(server, config, replace(capacity, user_class=user_class),
                               raw / f"overhead-r{round_no}-{user_class}", server_cpus)
                row.update(round=round_no, idle_cpu_pct=idle_pct)
                rows.append({**row, "noisy": is_noisy(row)})
                print(f"    {user_class}: {row['rps']:.0f} req/s, server "
                      f"{row['server_us_per_req']:.0f} us/req", file=sys.stderr, flush=True)
    return rows


def ratio(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return /predict and /livez capacity (medians of the quiet runs, or of all when none was
    quiet) and their ratios, by req/s and by CPU."""
    by = {name: [r for r in rows if r["user_class"] == name]
          for name in ("CapacityUser", "LivezUser")}
    by = {name: [r for r in group if not r.get("noisy")] or group for name, group in by.items()}
    if not rows or not all(by.values()):
        return {}
    med = {name: {key: statistics.median(r[key] for r in group) for key in KEYS}
           for name, group in by.items()}
    predict, livez = med["CapacityUser"], med["LivezUser"]
    return {"config": rows[0]["config"], "users": rows[0]["users"], "predict": predict,
            "noisy_runs": sum(bool(r.get("noisy")) for r in rows), "runs": len(rows),
            "livez": livez, "ratio_rps": predict["rps"] / livez["rps"],
            "ratio_cpu": livez["server_us_per_req"] / predict["server_us_per_req"]}
