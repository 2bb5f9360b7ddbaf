"""Run wrk (Debian's C load generator) once and read its results, with its CPU cost."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from perf.loadrun import GENERATOR_BOUND_PCT
from perf.loadrun import Load
from perf.loadrun import common_row
from perf.sampling import TreeSampler
from perf.sampling import tree_cpu
from perf.server import REPO_ROOT
from perf.server import Server
from perf.server import ServerConfig

SCRIPT = REPO_ROOT / "perf" / "wrk" / "report.lua"


def wrk_path() -> str | None:
    """Return the wrk binary, or None when it is not installed (`apt-get install wrk`)."""
    return shutil.which("wrk")


@dataclass(frozen=True)
class WrkLoad:
    """One wrk run: connections held open, duration, and an optional body file to POST.

    The body goes as content_type, with headers added to every request.
    """

    connections: int
    duration_s: float
    body: Path | None = None
    threads: int = 1
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def run_wrk(url: str, load: WrkLoad) -> dict[str, Any]:
    """Load url with wrk; return its JSON summary plus `generator_cpu_s` (wrk's user+sys).

    :raises RuntimeError: if wrk is missing or fails.
    """
    binary = wrk_path()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "WRK_BODY": str(load.body or ""), "WRK_CONTENT_TYPE": load.content_type,
           "WRK_HEADERS": "\n".join(f"{name}: {value}" for name, value in load.headers.items())}
    command = [binary, f"-t{load.threads}", f"-c{load.connections}",
               f"-d{load.duration_s:g}s", "--timeout", "5s", "-s", str(SCRIPT), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=load.duration_s + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["generator_cpu_s"] = (after.ru_utime - before.ru_utime
                                 + after.ru_stime - before.ru_stime)
    result["errors"] = sum(result[key] for key in ("connect_errors", "read_errors",
                                                   "write_errors", "status_errors", "timeouts"))
    result["rps"] = result["requests"] / max(result["duration_us"] / 1e6, 1e-9)
    return result


# The Locust user classes wrk can stand in for: the route and the body file to POST (or GET).
WRK_TARGETS: dict[str, tuple[str, Path | None]] = {
    "CapacityUser": ("/predict", REPO_ROOT / "examples" / "digit.json"),
    "LivezUser": ("/livez", None),
}


def run_wrk_cell(server: Server, config: ServerConfig, load: Load, prefix: Path,
                 cpus: int) -> dict[str, Any]:
    """Load server with wrk (users = open connections); return a row like run_cell's.

    wrk checks no answer: failures are socket errors, timeouts and non-2xx statuses.
    :raises ValueError: for a user class wrk cannot stand in for.
    """
    if load.user_class not in WRK_TARGETS:
        raise ValueError(f"wrk runs only {', '.join(WRK_TARGETS)}, not {load.user_class}")
    path, body = WRK_TARGETS[load.user_class]
    before = tree_cpu(server.proc.pid)
    with TreeSampler({"server": server.proc.pid}) as sampler:
        result = run_wrk(server.url + path, WrkLoad(load.users, load.duration_s, body))
    after = tree_cpu(server.proc.pid)
    prefix.with_suffix(".wrk.json").write_text(json.dumps(result) + "\n")
    first, last = sampler.window(0.0, float("inf"))
    requests = int(result["requests"])
    gen_pct = 100 * result["generator_cpu_s"] / load.duration_s
    row = common_row(server, config, load, sampler, (first, last), (before, after), requests,
                     cpus)
    row["foreign_cpu_pct"] = max(row["foreign_cpu_pct"] - gen_pct, 0.0)
    return {**row, "generator": "wrk", "requests": requests, "failures": result["errors"],
            "error_ratio": result["errors"] / requests if requests else 1.0,
            "rps": result["rps"], "steady_rps": result["rps"], "images_per_s": result["rps"],
            "p50_ms": result["p50_us"] / 1000, "p95_ms": result["p95_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000, "max_ms": result["max_us"] / 1000,
            "avg_ms": result["mean_us"] / 1000, "gen_cpu_pct": gen_pct,
            "gen_peak_proc_pct": gen_pct,  # one wrk thread: the process is the thread
            "gen_us_per_req": 1e6 * result["generator_cpu_s"] / requests if requests else 0.0,
            "generator_bound": gen_pct > GENERATOR_BOUND_PCT}
