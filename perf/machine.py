"""Describe the machine and software a sweep ran on, for the report's header."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from importlib import metadata
from typing import Any

import psutil

from perf.server import REPO_ROOT


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """Return the repo's HEAD commit (with `+dirty` if the tree has changes), or ''."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+dirty" if dirty else "")


def cpu_probe_ms(runs: int = 7) -> float:
    """Time a fixed pure-Python loop (the median of `runs`, in CPU ms): higher is a slower CPU.

    A VM's host can slow its cores (other guests on them) without any process here using more
    CPU; this reading shows it, run against run.
    """
    times = []
    for _ in range(runs):
        started = time.process_time()
        sum(range(1_000_000))
        times.append(1000 * (time.process_time() - started))
    return round(statistics.median(times), 1)


def describe() -> dict[str, Any]:
    """Return host, CPU, memory, load, versions and commit as a flat dict."""
    versions = {}
    for name in ("gunicorn", "flask", "onnxruntime", "locust"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
        "git_commit": git_commit(),
        "cpu_probe_ms": cpu_probe_ms(),
    }
