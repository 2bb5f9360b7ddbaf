"""Memory a server holds after real traffic, by worker count: what a pod's memory limit is made of.

Run: `python -m perf.footprint` (about 25 s). For each worker count it starts
`gunicorn wsgi:app` with the repo's config (sync workers, access log off), sends single
digits to /predict and full batches (DIGITSERVE_MAX_BATCH images) to /predict/batch, then reads
the resident (RSS), proportional (PSS: shared pages split between the processes that map them)
and private memory of the master and every worker, and the size of the metrics directory
(a tmpfs in the container, so it counts as memory there); then, after IDLE_WAIT_S without
traffic, the same again (workers give a large batch's memory back once idle). The whole
tree's PSS is what the processes cost together; fitted over the worker counts it gives a fixed
part plus a part per worker, the figures deploy/README.md turns into the Kubernetes memory
request and limit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import requests

from app.web.memory import IDLE_S
from perf.server import ServerConfig
from perf.server import running

IDLE_WAIT_S = 4 * IDLE_S


def tree_memory(pid: int) -> dict[str, Any]:
    """Return RSS, PSS and private MB of the master and of each worker under pid."""
    def reading(proc: psutil.Process) -> dict[str, float]:
        info = proc.memory_full_info()
        return {"rss_mb": info.rss / 2**20, "pss_mb": info.pss / 2**20,
                "private_mb": info.uss / 2**20}

    master = psutil.Process(pid)
    workers = [reading(child) for child in master.children(recursive=True)
               if not any("resource_tracker" in part for part in child.cmdline())]
    return {"master": reading(master), "per_worker": workers,
            "total_pss_mb": reading(master)["pss_mb"] + sum(w["pss_mb"] for w in workers)}


def load(url: str, singles: int, batches: int, batch_size: int, clients: int) -> None:
    """Send singles /predict requests, then batches full /predict/batch from each of clients.

    The batches come from as many clients as there are workers, back to back, so every worker
    is busy with them until the end: none idles long enough to give their memory back before
    the reading (app/web/memory.py).
    """
    rng = np.random.default_rng(0)
    with requests.Session() as session:
        for _ in range(singles):
            body = {"data": np.round(rng.random(784), 4).tolist()}
            session.post(f"{url}/predict", json=body, timeout=10).raise_for_status()
    body = {"instances": np.round(rng.random((batch_size, 784)), 4).tolist()}

    def client(count: int) -> None:
        with requests.Session() as session:
            for _ in range(count):
                session.post(f"{url}/predict/batch", json=body, timeout=30).raise_for_status()

    with ThreadPoolExecutor(clients) as pool:
        for done in [pool.submit(client, -(-batches // clients)) for _ in range(clients)]:
            done.result()


def measure(workers: int, singles: int, batches: int, batch_size: int) -> dict[str, Any]:
    """Start a server with this many workers, load it, and read its memory."""
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        metrics_dir = Path(tmp) / "metrics"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        with running(ServerConfig(workers=workers), Path(tmp), warmup_s=0) as server:
            # Every worker must see traffic: each request on its own connection lands on
            # whichever worker accepts first, so send enough for all of them.
            load(server.url, singles * workers, batches * workers, batch_size, workers)
            memory = tree_memory(server.proc.pid)
            # Workers give a large batch's memory back once idle (app/web/memory.py).
            time.sleep(IDLE_WAIT_S)
            memory["idle"] = tree_memory(server.proc.pid)
            memory["metrics_dir_mb"] = sum(p.stat().st_size for p in metrics_dir.glob("*"))
            memory["metrics_dir_mb"] /= 2**20
        return {"workers": workers, **memory}


def main(argv: list[str] | None = None) -> int:
    """Measure each worker count and print a table, the fit and a JSON line."""
    parser = argparse.ArgumentParser(prog="python -m perf.footprint", description=__doc__)
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--singles", type=int, default=300, help="/predict per worker")
    parser.add_argument("--batches", type=int, default=10, help="full batches per worker")
    parser.add_argument("--batch-size", type=int, default=256, help="images per batch")
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.singles, args.batches, args.batch_size)
            for n in args.workers.split(",")]
    print("workers | master RSS / PSS / private MB | worker RSS / PSS / private MB (max) | "
          "tree PSS MB | metrics files MB | idle: worker private MB (max) | idle: tree PSS MB")
    for row in rows:
        master, idle = row["master"], row["idle"]
        worst = max(row["per_worker"], key=lambda w: w["pss_mb"])
        print(f"{row['workers']} | {master['rss_mb']:.1f} / {master['pss_mb']:.1f} / "
              f"{master['private_mb']:.1f} | {worst['rss_mb']:.1f} / {worst['pss_mb']:.1f} / "
              f"{worst['private_mb']:.1f} | {row['total_pss_mb']:.1f} | "
              f"{row['metrics_dir_mb']:.1f} | "
              f"{max(w['private_mb'] for w in idle['per_worker']):.1f} | "
              f"{idle['total_pss_mb']:.1f}")
    if len(rows) > 1:
        counts = [r["workers"] for r in rows]
        for when, totals in (("after the batches", [r["total_pss_mb"] for r in rows]),
                             (f"idle {IDLE_WAIT_S:g} s later",
                              [r["idle"]["total_pss_mb"] for r in rows])):
            slope, intercept = np.polyfit(counts, totals, 1)
            print(f"tree PSS {when} ~= {intercept:.1f} MB + {slope:.1f} MB per worker")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
