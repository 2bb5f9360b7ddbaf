"""A performance gate for CI: a short mixed load against the service, judged by budgets.

Run: `python -m perf.gate` (starts `gunicorn wsgi:app` with the defaults on a free port) or
`python -m perf.gate --host http://127.0.0.1:8000`. It runs Locust's GateUser mix (every answer
checked) for --duration seconds, then alternates /predict and /livez capacity runs on the same
server (wrk when installed, else Locust) for their ratio: a regression guard that holds on a
noisy machine because both sides are measured in the same run. It prints a verdict table and
exits 0 within budget, 1 when a budget is broken (naming it), 2 on bad usage. Budgets live in
perf/budgets.toml; each is also a flag.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf.compare import DIGIT
from perf.compare import serving
from perf.loadrun import read_aggregated
from perf.server import REPO_ROOT
from perf.wrkrun import WrkLoad
from perf.wrkrun import run_wrk
from perf.wrkrun import wrk_path

BUDGETS = REPO_ROOT / "perf" / "budgets.toml"
KEYS = {"max_failures": int, "max_p99_ms": float, "min_predict_livez_ratio": float}


@dataclass(frozen=True)
class Verdict:
    """One budget: what it allows, what was measured, and whether it held."""

    name: str
    limit: str
    measured: float
    held: bool


def read_budgets(path: Path) -> dict[str, float]:
    """Read the budgets file; every key of KEYS must be there, with a number.

    :raises ValueError: if the file is not TOML or a budget is missing or not a number.
    """
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read budgets from {path}: {error}") from error
    missing = [key for key in KEYS if not isinstance(data.get(key), int | float)
               or isinstance(data.get(key), bool)]
    if missing:
        raise ValueError(f"{path}: missing or not a number: {', '.join(missing)}")
    return {key: kind(data[key]) for key, kind in KEYS.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line; flags override the budgets file."""
    parser = argparse.ArgumentParser(prog="python -m perf.gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="a running server's base URL (default: start one)")
    parser.add_argument("--budgets", type=Path, default=BUDGETS, help="TOML file of budgets")
    parser.add_argument("--max-failures", type=int, help="failed requests allowed (file: 0)")
    parser.add_argument("--max-p99-ms", type=float, help="p99 of the mixed load, ms")
    parser.add_argument("--min-predict-livez-ratio", type=float,
                        help="/predict req/s over /livez req/s, same server, same run")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of mixed load (default 20)")
    parser.add_argument("--users", type=int, default=16, help="Locust users (default 16)")
    parser.add_argument("--ratio-seconds", type=float, default=3.0,
                        help="seconds of each /predict and /livez run (default 3; 2 of each)")
    args = parser.parse_args(argv)
    try:
        budgets = read_budgets(args.budgets)
    except ValueError as error:
        parser.error(str(error))
    for key, value in budgets.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.duration <= 0 or args.users < 1 or args.ratio_seconds <= 0 or args.max_failures < 0:
        parser.error("--duration, --users and --ratio-seconds must be positive, "
                     "--max-failures 0 or more")
    if args.duration + 4 * args.ratio_seconds > 45:
        parser.error("the gate runs at most 45 s of load: shorten --duration or --ratio-seconds")
    return args


@contextmanager
def target(args: argparse.Namespace, run_dir: Path) -> Iterator[str]:
    """Yield the base URL to load: --host, or a server started with the defaults."""
    if args.host:
        yield args.host.rstrip("/")
        return
    with serving("digitserve", None, run_dir) as server:
        yield server.url


def locust(url: str, user_class: str, users: int, seconds: float, prefix: Path) -> dict[str, str]:
    """Run one headless Locust user class; return its Aggregated CSV row."""
    command = [sys.executable, "-m", "locust", "-f", "perf/locustfile.py", "--headless", "-H",
               url, "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--csv",
               str(prefix), "--only-summary", "--loglevel", "WARNING", "--logfile",
               f"{prefix}.log", user_class]
    done = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.STDOUT, timeout=seconds + 120, check=False)
    if done.returncode not in (0, 1):  # 1: some requests failed, which the verdict reports
        raise RuntimeError(f"locust exited with {done.returncode}; see {prefix}.log")
    return read_aggregated(prefix)


def capacity(url: str, path: str, args: argparse.Namespace, prefix: Path) -> float:
    """Return the req/s of one short capacity run on /predict or /livez."""
    if wrk_path():
        body = DIGIT if path == "/predict" else None
        return float(run_wrk(url + path, WrkLoad(4, args.ratio_seconds, body))["rps"])
    user = "CapacityUser" if path == "/predict" else "LivezUser"
    return float(locust(url, user, 4, args.ratio_seconds, prefix)["Requests/s"])


def measure(url: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run the mixed load, then the alternated capacity runs; return the figures."""
    mixed = locust(url, "GateUser", args.users, args.duration, out / "mixed")
    rates: dict[str, list[float]] = {"/predict": [], "/livez": []}
    for round_no in range(2):
        for path in ("/predict", "/livez") if round_no == 0 else ("/livez", "/predict"):
            rates[path].append(capacity(url, path, args, out / f"cap{round_no}{path[1:]}"))
    predict, livez = (statistics.median(rates[p]) for p in ("/predict", "/livez"))
    return {"requests": int(mixed["Request Count"]), "failures": int(mixed["Failure Count"]),
            "p99_ms": float(mixed["99%"]), "rps": float(mixed["Requests/s"]),
            "predict_rps": predict, "livez_rps": livez, "ratio": predict / max(livez, 1e-9)}


def judge(figures: dict[str, Any], args: argparse.Namespace) -> list[Verdict]:
    """Hold each budget against what was measured."""
    return [
        Verdict("failures (mixed load)", f"<= {args.max_failures}", figures["failures"],
                figures["failures"] <= args.max_failures),
        Verdict("p99 ms (mixed load)", f"<= {args.max_p99_ms:g}", figures["p99_ms"],
                figures["p99_ms"] <= args.max_p99_ms),
        Verdict("/predict req/s / /livez req/s", f">= {args.min_predict_livez_ratio:g}",
                round(figures["ratio"], 3), figures["ratio"] >= args.min_predict_livez_ratio),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the gate; return 0 within budget, 1 when a budget is broken."""
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="digitserve-gate-") as tmp, \
            target(args, Path(tmp)) as url:
        figures = measure(url, args, Path(tmp))
    verdicts = judge(figures, args)
    generator = "wrk" if wrk_path() else "Locust"
    print(f"perf.gate against {args.host or 'gunicorn wsgi:app (defaults)'} in "
          f"{time.monotonic() - started:.0f} s: {figures['requests']} mixed requests at "
          f"{figures['rps']:.0f} req/s ({args.users} users); capacity ({generator}) /predict "
          f"{figures['predict_rps']:.0f} req/s, /livez {figures['livez_rps']:.0f} req/s\n")
    print("| budget | limit | measured | verdict |\n|---|---|---|---|")
    for verdict in verdicts:
        print(f"| {verdict.name} | {verdict.limit} | {verdict.measured:g} | "
              f"{'ok' if verdict.held else 'BROKEN'} |")
    broken = [verdict.name for verdict in verdicts if not verdict.held]
    if broken:
        print(f"\nperf.gate: budget broken: {'; '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
