"""Price Flask + Gunicorn side by side: digitserve against a FastAPI + uvicorn reference.

Run: `python -m perf.compare` (about 2.5 min). It starts, each on a free loopback port,
digitserve as users run it (`gunicorn wsgi:app` with the repo's config), the FastAPI
reference in perf/refapp.py twice (uvicorn, uvloop, httptools, as many workers; `fastapi` with
plain `def` views as FastAPI documents for blocking work, `fastapi-async` with `async def`
views), and the minimal Flask app in perf/minimal.py (the repo's gunicorn config). Then it
loads each target in interleaved rounds with the same generator (wrk when installed, else
Locust FastHttpUser), measuring the CPU time of each server's whole process tree, and prints
medians, spreads and ratios. perf/README.md explains how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from perf.machine import describe
from perf.memory import worker_memory
from perf.memory import worker_processes
from perf.sampling import idle_workers
from perf.sampling import tree_cpu
from perf.sampling import wait_quiet
from perf.server import REPO_ROOT
from perf.server import free_port
from perf.server import stop_process
from perf.server import wait_for_200
from perf.wrkrun import WrkLoad
from perf.wrkrun import run_wrk
from perf.wrkrun import wrk_path

DIGIT = REPO_ROOT / "examples" / "digit.json"
STACKS = ("digitserve", "fastapi", "fastapi-async", "minimal")
# The uvicorn app of each FastAPI stack (perf/refapp.py).
REFERENCE_APPS = {"fastapi": "perf.refapp:app", "fastapi-async": "perf.refapp:async_app"}


@dataclass(frozen=True)
class Target:
    """One thing to load: a stack's route, with the body to POST (None: GET)."""

    stack: str
    path: str
    body: Path | None

    @property
    def name(self) -> str:
        """Name the target, e.g. `digitserve /predict`."""
        return f"{self.stack} {self.path}"


TARGETS = (Target("digitserve", "/predict", DIGIT), Target("digitserve", "/livez", None),
           Target("fastapi", "/predict", DIGIT), Target("fastapi-async", "/predict", DIGIT),
           Target("minimal", "/predict", DIGIT))


def server_command(stack: str, port: int, workers: int | None,
                   run_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Return the command line and environment that serve stack on port."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"GUNICORN_ACCESSLOG", "GUNICORN_WORKERS"}}
    if stack in REFERENCE_APPS:
        count = workers or len(os.sched_getaffinity(0))
        return [sys.executable, "-m", "uvicorn", REFERENCE_APPS[stack], "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(count), "--loop", "uvloop", "--http",
                "httptools", "--no-access-log", "--log-level", "warning"], env
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}",
               GUNICORN_CONTROL_SOCKET=str(run_dir / f"{stack}.ctl"))
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    app = "wsgi:app" if stack == "digitserve" else "perf.minimal:app"
    return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], env


@dataclass
class Running:
    """A started server: its process and base URL."""

    stack: str
    proc: subprocess.Popen[bytes]
    url: str


@contextmanager
def serving(stack: str, workers: int | None, run_dir: Path) -> Iterator[Running]:
    """Start one stack, wait until it answers /livez and warm it up; stop it on exit."""
    port = free_port()
    command, env = server_command(stack, port, workers, run_dir)
    with (run_dir / f"{stack}.log").open("ab") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    server = Running(stack, proc, f"http://127.0.0.1:{port}")
    try:
        wait_for_200(f"{server.url}/livez", proc, stack, request_timeout_s=1)
        body = DIGIT.read_bytes()
        with requests.Session() as session:
            for _ in range(200):  # reach every worker
                session.post(f"{server.url}/predict", data=body,
                             headers={"Content-Type": "application/json"}, timeout=10)
        yield server
    finally:
        stop_process(proc)


def load_once(server: Running, target: Target, args: argparse.Namespace,
              out: Path) -> dict[str, Any]:
    """Load one target once; return req/s, latency, errors, CPU per request, idle workers."""
    before = tree_cpu(server.proc.pid)
    if args.generator == "wrk":
        result = run_wrk(server.url + target.path,
                         WrkLoad(args.connections, args.duration, target.body))
    else:
        result = run_locust(server.url, target, args, out)
    after = tree_cpu(server.proc.pid)
    server_s = sum(after.values()) - sum(before.values())
    served = max(result["requests"], 1)
    return {**result, "target": target.name,
            "server_us_per_req": 1e6 * server_s / served,
            "generator_us_per_req": 1e6 * result["generator_cpu_s"] / served,
            "idle_workers": idle_workers(
                before, after, {proc.pid for proc in worker_processes(server.proc.pid)})}


def run_locust(url: str, target: Target, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Load one target with Locust (CapacityUser or LivezUser); return wrk-like keys."""
    from perf.loadrun import read_aggregated  # Locust's CSV reader; imports nothing of Locust

    prefix = out / f"locust-{target.stack}-{target.path.strip('/')}-{time.monotonic_ns()}"
    user = "LivezUser" if target.path == "/livez" else "CapacityUser"
    command = [sys.executable, "-m", "locust", "-f", "perf/locustfile.py", "--headless",
               "-H", url, "-u", str(args.connections), "-r", str(args.connections),
               "-t", f"{args.duration:g}s", "--csv", str(prefix), "--only-summary",
               "--loglevel", "WARNING", "--logfile", f"{prefix}.log", user]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, "PERF_MAX_FAIL_RATIO": "1"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                   timeout=args.duration + 120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = read_aggregated(prefix)
    return {"requests": int(row["Request Count"]), "errors": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]), "p50_us": 1000 * float(row["50%"]),
            "p99_us": 1000 * float(row["99%"]),
            "generator_cpu_s": (after.ru_utime - before.ru_utime
                                + after.ru_stime - before.ru_stime)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Group rows by target; return medians and min-max of each figure."""
    table: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(row["target"] for row in rows):
        group = [row for row in rows if row["target"] == name]
        entry: dict[str, Any] = {"rounds": len(group), "errors": sum(r["errors"] for r in group),
                                 "idle_worker_rounds": sum(r["idle_workers"] > 0 for r in group)}
        for key in ("rps", "p50_us", "p99_us", "server_us_per_req", "generator_us_per_req"):
            values = [float(row[key]) for row in group]
            entry[key] = statistics.median(values)
            entry[key + "_range"] = (min(values), max(values))
        table[name] = entry
    return table


def ratios(table: dict[str, dict[str, Any]]) -> list[tuple[str, float, str]]:
    """Return (what, value, how to read it) for the comparisons that matter."""
    ours, found = table.get("digitserve /predict"), []
    if ours is None:
        return found
    livez, minimal = table.get("digitserve /livez"), table.get("minimal /predict")
    for stack, views in (("fastapi", "def views"), ("fastapi-async", "async def views")):
        reference = table.get(f"{stack} /predict")
        if reference:
            found += [(f"server CPU per /predict, digitserve / FastAPI ({views})",
                       ours["server_us_per_req"] / reference["server_us_per_req"],
                       "lower is better"),
                      (f"req/s of /predict, digitserve / FastAPI ({views})",
                       ours["rps"] / reference["rps"], "higher is better")]
    if minimal:
        found.append(("server CPU per /predict, digitserve / minimal Flask",
                      ours["server_us_per_req"] / minimal["server_us_per_req"],
                      "what digitserve's features cost over the minimal app"))
    if livez:
        found.append(("req/s, digitserve /predict / its /livez", ours["rps"] / livez["rps"],
                      "the model's and validation's share"))
    return found


def render(table: dict[str, dict[str, Any]], memory: dict[str, dict[str, float]],
           args: argparse.Namespace) -> str:
    """Return the report as Markdown tables."""
    lines = [f"generator: {args.generator}, {args.connections} connections, {args.duration:g} s "
             f"a run, {args.rounds} interleaved rounds; medians (min-max)", "",
             "| target | req/s | p50 ms | p99 ms | server us/req | generator us/req | errors | "
             "rounds with an idle worker |",
             "|---|---|---|---|---|---|---|---|"]
    for name, entry in table.items():
        low, high = entry["rps_range"]
        cpu_low, cpu_high = entry["server_us_per_req_range"]
        lines.append(f"| {name} | {entry['rps']:,.0f} ({low:,.0f}-{high:,.0f}) | "
                     f"{entry['p50_us'] / 1000:.2f} | {entry['p99_us'] / 1000:.2f} | "
                     f"{entry['server_us_per_req']:.0f} ({cpu_low:.0f}-{cpu_high:.0f}) | "
                     f"{entry['generator_us_per_req']:.0f} | {entry['errors']} | "
                     f"{entry['idle_worker_rounds']} of {entry['rounds']} |")
    lines += ["", "| ratio | value | |", "|---|---|---|"]
    lines += [f"| {what} | {value:.2f} | {note} |" for what, value, note in ratios(table)]
    if memory:
        lines += ["", "| stack | workers | RSS MB/worker | PSS MB/worker | private MB/worker |",
                  "|---|---|---|---|---|"]
        for stack, mem in memory.items():
            lines.append(f"| {stack} | {mem['workers']:.0f} | {mem['rss_mb']:.1f} | "
                         f"{mem['pss_mb']:.1f} | {mem['private_mb']:.1f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m perf.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds a run (default 5)")
    parser.add_argument("--connections", type=int, default=4,
                        help="open connections (wrk) or users (Locust); default 4")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers for every stack (default: each stack's default, the CPU "
                             "count for all of them today)")
    parser.add_argument("--generator", choices=("wrk", "locust"),
                        default="wrk" if wrk_path() else "locust",
                        help="load generator (default: wrk when installed, else Locust)")
    parser.add_argument("--stacks", default=",".join(STACKS),
                        help=f"comma-separated subset of {','.join(STACKS)}")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait for other load to stop before each run")
    parser.add_argument("--json", type=Path, help="also write the rows and summary here")
    args = parser.parse_args(argv)
    unknown = set(args.stacks.split(",")) - set(STACKS)
    if unknown or args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        parser.error(f"bad arguments (unknown stacks: {sorted(unknown)})" if unknown
                     else "rounds, duration and connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Start the stacks, run the rounds, print the report."""
    args = parse_args(argv)
    stacks = [stack for stack in STACKS if stack in args.stacks.split(",")]
    targets = [target for target in TARGETS if target.stack in stacks]
    machine = describe()
    print(f"# perf.compare, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
          f"{machine['cpus']} CPUs ({machine['cpu']}), load average {machine['load_avg']}, "
          f"commit {machine['git_commit']}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="digitserve-compare-") as tmp, ExitStack() as stack:
        run_dir = Path(tmp)
        servers = {name: stack.enter_context(serving(name, args.workers, run_dir))
                   for name in stacks}
        for round_no in range(1, args.rounds + 1):
            # Rotate the order each round so no target always runs first or last.
            shift = (round_no - 1) % len(targets)
            for target in targets[shift:] + targets[:shift]:
                wait_quiet(args.quiet_wait)
                row = load_once(servers[target.stack], target, args, run_dir)
                rows.append({**row, "round": round_no})
                print(f"  round {round_no} {target.name}: {row['rps']:,.0f} req/s, server "
                      f"{row['server_us_per_req']:.0f} us/req, {row['errors']} errors, "
                      f"{row['idle_workers']} idle workers",
                      file=sys.stderr, flush=True)
        memory = {name: worker_memory(server.proc.pid) for name, server in servers.items()}
    table = summarise(rows)
    print(render(table, memory, args))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": vars(args) | {
            "json": str(args.json)}, "rows": rows, "summary": table, "memory": memory,
            "ratios": ratios(table)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
