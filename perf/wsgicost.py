"""CPU time per request of one route through the WSGI callable, in this process: no HTTP.

Run from a checkout: `python -m perf.wsgicost /predict`. To compare two versions of the code on
a noisy machine, run this file from each checkout in turn, several times, and compare medians
(`cd OLD && python NEW/perf/wsgicost.py /predict`: it imports the `app` of the folder it runs
in). Under `valgrind --tool=callgrind`, two runs with different `--calls` give instructions per
request, whatever else the machine does: (total(N2) - total(N1)) / (N2 - N1).
"""

from __future__ import annotations

import argparse
import atexit
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Before prometheus_client is imported: metrics in multiprocess mode, as under Gunicorn.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # a directory of our own, gone at exit
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="digitserve-bench-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)

import gc  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402

sys.path.insert(0, os.getcwd())  # the checkout this runs in, when run as a file
from app import create_app  # noqa: E402

DIGITS = Path("tests/data/heldout_digits.npz")


def body_for(route: str) -> bytes:
    """Return a real request body for route: one held-out digit, or a batch of 32."""
    with np.load(DIGITS) as data:
        rows = (data["images"][:32] / 255.0).round(4).tolist()
    if route == "/predict":
        return orjson.dumps({"data": rows[0]})
    if route == "/predict/batch":
        return orjson.dumps({"instances": rows})
    return b""


def main() -> None:
    """Time the route in blocks after a warm-up; print the median CPU microseconds a request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("route", choices=("/predict", "/predict/batch", "/livez"))
    parser.add_argument("--calls", type=int, default=300, help="requests a block (300)")
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    app = create_app()
    body = body_for(args.route)

    def call() -> None:
        environ = {"REQUEST_METHOD": "GET" if args.route == "/livez" else "POST",
                   "PATH_INFO": args.route, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": "application/json", "wsgi.errors": sys.stderr}
        for _ in app(environ, lambda status, headers, exc_info=None: None):
            pass

    for _ in range(50):
        call()
    gc.freeze()  # as gunicorn.conf.py does before each fork
    blocks = []
    for _ in range(args.blocks):
        started = time.thread_time_ns()
        for _ in range(args.calls):
            call()
        blocks.append((time.thread_time_ns() - started) / args.calls / 1000)
    print(f"{args.route}: {statistics.median(blocks):.1f} us of CPU a request "
          f"(blocks {min(blocks):.1f}-{max(blocks):.1f})")


if __name__ == "__main__":
    main()
