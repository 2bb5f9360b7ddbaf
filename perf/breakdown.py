"""Print where one request's time goes: median microseconds per stage, in one process.

Run: `python -m perf.breakdown` (or `make bench`). Each stage runs many times on a real
held-out digit; the medians are comparable within one run only (the machine is shared).
Metrics are kept in multiprocess mode, as under Gunicorn (in a temporary directory).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before prometheus_client is imported: it picks its storage then.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # a directory of our own, gone at exit
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="digitserve-bench-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from flask import Flask  # noqa: E402
from marshmallow import Schema  # noqa: E402
from marshmallow import fields  # noqa: E402
from marshmallow import validate  # noqa: E402

from app import create_app  # noqa: E402
from app.inference.model import get_model  # noqa: E402
from app.inference.preprocess import to_batch  # noqa: E402
from app.schemas import BatchPredictionSchema  # noqa: E402
from app.schemas import BatchRequestSchema  # noqa: E402
from app.schemas import PredictionSchema  # noqa: E402
from app.schemas import PredictRequestSchema  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


class NaiveRequestSchema(Schema):
    """The per-element validation this service avoids, kept here to show what it costs."""

    data = fields.List(fields.Float(allow_nan=False, validate=validate.Range(0, 1)),
                       required=True, validate=validate.Length(784, 784))


def median_us(func: Callable[[], Any], repeat: int) -> float:
    """Call func repeat times (after a few warm-up calls); return the median in microseconds."""
    for _ in range(min(50, repeat)):
        func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        func()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def measure(repeat: int) -> list[tuple[str, float, str]]:
    """Time each stage of /predict and /predict/batch; return (stage, median us, note) rows."""
    app = create_app({"TESTING": True})
    body = (REPO_ROOT / "examples" / "digit.json").read_bytes()
    parsed = orjson.loads(body)
    with np.load(REPO_ROOT / "tests" / "data" / "heldout_digits.npz") as digits:
        images = np.round(digits["images"][:32] / 255.0, 4).tolist()
    batch_body = orjson.dumps({"instances": images})
    rows: list[tuple[str, float, str]] = []
    # Schema instances are built once, as the views' decorators do.
    request_schema, naive_schema = PredictRequestSchema(), NaiveRequestSchema()
    batch_schema, response_schema = BatchRequestSchema(), PredictionSchema()
    batch_response_schema = BatchPredictionSchema()

    def add(stage: str, func: Callable[[], Any], note: str = "", n: int = repeat) -> float:
        value = median_us(func, n)
        rows.append((stage, value, note))
        return value

    with app.app_context():
        model = get_model()
        add("parse JSON (orjson)", lambda: orjson.loads(body), f"{len(body)} byte body")
        add("parse JSON (stdlib json)", lambda: json.loads(body), "for comparison")
        loaded = request_schema.load(parsed)
        add("validate (numpy-backed field)", lambda: request_schema.load(parsed))
        add("validate (List(Float), per element)", lambda: naive_schema.load(parsed),
            "for comparison")
        batch = to_batch(loaded["data"])
        add("preprocess (to_batch)", lambda: to_batch(loaded["data"]))
        add("inference, batch of 1", lambda: model.predict(batch))
        batch32 = to_batch(batch_schema.load(orjson.loads(batch_body))["instances"])
        per32 = add("inference, batch of 32", lambda: model.predict(batch32), "whole batch")
        rows.append(("inference, batch of 32, per image", per32 / 32, ""))
        answer = model.predict(batch)[0]
        add("serialise (schema dump + orjson)",
            lambda: orjson.dumps(response_schema.dump(answer)))
        add("serialise (schema dump + stdlib json)",
            lambda: json.dumps(response_schema.dump(answer)), "for comparison")
        answers = {"predictions": model.predict(batch32), "count": 32}
        add("serialise batch of 32 (dump + orjson)",
            lambda: orjson.dumps(batch_response_schema.dump(answers)))
    whole = add("whole /predict through WSGI (no HTTP)", lambda: call(app.wsgi_app, "/predict",
                                                                      body))
    add("whole /predict/batch of 32 through WSGI",
        lambda: call(app.wsgi_app, "/predict/batch", batch_body), "", n=max(50, repeat // 10))
    livez = add("whole /livez through WSGI", lambda: call(app.wsgi_app, "/livez"),
                "the framework's floor")
    # The same requests without the WSGI middleware (request ids, metrics): Flask alone.
    flask_only = functools.partial(Flask.wsgi_app, app)
    rows.append(("request id + metrics middleware, /predict",
                 whole - median_us(lambda: call(flask_only, "/predict", body), repeat),
                 "whole minus Flask alone"))
    rows.append(("request id + metrics middleware, /livez",
                 livez - median_us(lambda: call(flask_only, "/livez"), repeat),
                 "whole minus Flask alone"))
    return rows


def call(wsgi: Callable[..., Any], path: str, body: bytes | None = None) -> bytes:
    """Call a WSGI callable as a server would, without HTTP; return the response body."""
    environ = {
        "REQUEST_METHOD": "POST" if body is not None else "GET", "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body or b"")),
    }
    return b"".join(wsgi(environ, lambda status, headers, exc_info=None: None))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000, help="calls per stage")
    args = parser.parse_args()
    rows = measure(args.repeat)
    width = max(len(stage) for stage, _, _ in rows)
    print(f"{'stage':<{width}}  {'median us':>10}  note")
    for stage, value, note in rows:
        print(f"{stage:<{width}}  {value:>10.1f}  {note}")


if __name__ == "__main__":
    main()
