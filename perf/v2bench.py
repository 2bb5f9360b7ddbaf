"""Price the Open Inference Protocol beside /predict/batch: same server, same images, wrk.

Run: `python -m perf.v2bench` (about 1 minute). It starts digitserve as users run it
(`gunicorn wsgi:app`, the repo's config) on a free loopback port, then loads it in
interleaved rounds with wrk, the same 32 held-out digits in every request:

- `/predict/batch`: `{"instances": [...]}`, 784 numbers an image (4 decimals), as JSON;
- `v2 binary`: the Open Inference Protocol with the binary tensor data extension (a JSON
  header, then 32 x 784 little-endian float32), outputs returned as binary, as tritonclient
  sends and asks by default;
- `v2 JSON`: the same protocol with the tensor as JSON numbers (as curl users send it).

It reports images/s, p50/p99 per request and the server's CPU time per image (the whole
Gunicorn tree, the steady figure on a shared machine), medians over rounds with min-max.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

from perf.compare import serving
from perf.machine import describe
from perf.sampling import tree_cpu
from perf.sampling import wait_quiet
from perf.server import REPO_ROOT
from perf.wrkrun import WrkLoad
from perf.wrkrun import run_wrk

DIGITS = REPO_ROOT / "tests" / "data" / "heldout_digits.npz"
HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class Target:
    """A way to send the same images: a path, a body file, its Content-Type and headers."""

    name: str
    path: str
    body: Path
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def write_bodies(images: np.ndarray, out: Path, model: str = "digitserve-mnist-cnn",
                 input_name: str = "image") -> list[Target]:
    """Write one request body per way in, for the same (N, 784) images; return the targets."""
    count = len(images)
    batch = orjson.dumps({"instances": images.tolist()})
    pixels = images.astype(np.float32)
    tensor = {"name": input_name, "shape": [count, 1, 28, 28], "datatype": "FP32"}
    header = orjson.dumps({"inputs": [{**tensor, "parameters": {
        "binary_data_size": pixels.nbytes}}], "parameters": {"binary_data_output": True}})
    as_json = orjson.dumps({"inputs": [{**tensor, "data": images.ravel().tolist()}]})
    bodies = {"batch.json": batch, "v2-binary.bin": header + pixels.tobytes(),
              "v2.json": as_json}
    for name, data in bodies.items():
        (out / name).write_bytes(data)
    infer = f"/v2/models/{model}/infer"
    return [Target(f"/predict/batch x{count}", "/predict/batch", out / "batch.json"),
            Target(f"v2 binary x{count}", infer, out / "v2-binary.bin",
                   "application/octet-stream", {HEADER: str(len(header))}),
            Target(f"v2 JSON x{count}", infer, out / "v2.json")]


def check_answers(url: str, targets: list[Target], labels: list[int]) -> None:
    """Send each body once; every way must answer 200 with the held-out labels."""
    for target in targets:
        response = requests.post(url + target.path, data=target.body.read_bytes(), timeout=10,
                                 headers={"Content-Type": target.content_type, **target.headers})
        response.raise_for_status()
        if target.path == "/predict/batch":
            found = [p["prediction"] for p in response.json()["predictions"]]
        elif HEADER in response.headers:
            found = np.frombuffer(response.content[-8 * len(labels):], "<i8").tolist()
        else:
            found = response.json()["outputs"][1]["data"]
        if found != labels:
            raise RuntimeError(f"{target.name} labelled {found}, expected {labels}")


def load_once(url: str, pid: int, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Load one target once with wrk; return per-image figures."""
    before = sum(tree_cpu(pid).values())
    result = run_wrk(url + target.path, WrkLoad(args.connections, args.duration, target.body,
                                                content_type=target.content_type,
                                                headers=target.headers))
    server_s = sum(tree_cpu(pid).values()) - before
    images = max(result["requests"], 1) * args.batch
    return {"target": target.name, "errors": result["errors"], "rps": result["rps"],
            "images_per_s": result["rps"] * args.batch, "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000, "server_us_per_image": 1e6 * server_s / images}


def summarise(rows: list[dict[str, Any]]) -> str:
    """Return medians (min-max) per target as a Markdown table."""
    lines = ["| target | images/s | req/s | p50 ms | p99 ms | server us/image | errors |",
             "|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(row["target"] for row in rows):
        group = [row for row in rows if row["target"] == name]

        def cell(key: str, fmt: str, group: list[dict[str, Any]] = group) -> str:
            values = [row[key] for row in group]
            return (f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-"
                    f"{max(values):{fmt}})")

        lines.append(f"| {name} | {cell('images_per_s', ',.0f')} | "
                     f"{statistics.median(r['rps'] for r in group):,.0f} | "
                     f"{cell('p50_ms', '.2f')} | {cell('p99_ms', '.2f')} | "
                     f"{cell('server_us_per_image', '.1f')} | "
                     f"{sum(r['errors'] for r in group)} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m perf.v2bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds a run (default 5)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (4)")
    parser.add_argument("--batch", type=int, default=32, help="images a request (32)")
    parser.add_argument("--workers", type=int, default=None, help="Gunicorn workers (default: "
                        "the repo's config, one per CPU)")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait for other load to stop before each run")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if min(args.rounds, args.connections, args.batch) < 1 or args.duration <= 0:
        parser.error("rounds, duration, connections and batch must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Start digitserve, check every way answers right, run the rounds, print the table."""
    args = parse_args(argv)
    with np.load(DIGITS) as data:
        images = np.round(data["images"][:args.batch] / 255.0, 4)
        labels = data["labels"][:args.batch].astype(int).tolist()
    machine = describe()
    print(f"# perf.v2bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
          f"{machine['cpus']} CPUs ({machine['cpu']}), load average {machine['load_avg']}, "
          f"commit {machine['git_commit']}; wrk, {args.connections} connections, "
          f"{args.duration:g} s a run, {args.rounds} interleaved rounds", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="digitserve-v2bench-") as tmp, \
            serving("digitserve", args.workers, Path(tmp)) as server:
        served = requests.get(server.url + "/model", timeout=10).json()
        targets = write_bodies(images, Path(tmp), served["name"], served["contract"]["input"])
        check_answers(server.url, targets, labels)
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(targets)  # no target always first or last
            for target in targets[shift:] + targets[:shift]:
                wait_quiet(args.quiet_wait)
                row = {**load_once(server.url, server.proc.pid, target, args), "round": round_no}
                rows.append(row)
                print(f"  round {round_no} {target.name}: {row['images_per_s']:,.0f} images/s, "
                      f"server {row['server_us_per_image']:.1f} us/image, {row['errors']} "
                      f"errors", file=sys.stderr, flush=True)
    print(summarise(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": {
            **vars(args), "json": str(args.json)}, "rows": rows}, indent=1))
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
