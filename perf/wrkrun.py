"""Run wrk (Debian's C load generator) once and read its results, with its CPU cost."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf.server import REPO_ROOT

SCRIPT = REPO_ROOT / "perf" / "wrk" / "report.lua"


def wrk_path() -> str | None:
    """Return the wrk binary, or None when it is not installed (`apt-get install wrk`)."""
    return shutil.which("wrk")


@dataclass(frozen=True)
class WrkLoad:
    """One wrk run: connections held open, duration, and an optional JSON body file to POST."""

    connections: int
    duration_s: float
    body: Path | None = None
    threads: int = 1


def run_wrk(url: str, load: WrkLoad) -> dict[str, Any]:
    """Load url with wrk; return its JSON summary plus `generator_cpu_s` (wrk's user+sys).

    :raises RuntimeError: if wrk is missing or fails.
    """
    binary = wrk_path()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "WRK_BODY": str(load.body or "")}
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
