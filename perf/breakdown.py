"""Print where one request's time goes: median microseconds per stage, in one process.

Run: `python -m perf.breakdown` (or `make bench`). Each stage runs many times on a real
held-out digit; the medians are comparable within one run only (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app import create_app
from app.model import get_model
from app.preprocess import to_batch
from app.schemas import BatchPredictionSchema
from app.schemas import BatchRequestSchema
from app.schemas import PredictionSchema
from app.schemas import PredictRequestSchema

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
    client = app.test_client()
    rows: list[tuple[str, float, str]] = []

    def add(stage: str, func: Callable[[], Any], note: str = "", n: int = repeat) -> float:
        value = median_us(func, n)
        rows.append((stage, value, note))
        return value

    with app.app_context():
        model = get_model()
        add("parse JSON (orjson)", lambda: orjson.loads(body), f"{len(body)} byte body")
        add("parse JSON (stdlib json)", lambda: json.loads(body), "for comparison")
        loaded = PredictRequestSchema().load(parsed)
        add("validate (numpy-backed field)", lambda: PredictRequestSchema().load(parsed))
        add("validate (List(Float), per element)", lambda: NaiveRequestSchema().load(parsed),
            "for comparison")
        batch = to_batch(loaded["data"])
        add("preprocess (to_batch)", lambda: to_batch(loaded["data"]))
        add("inference, batch of 1", lambda: model.predict(batch))
        batch32 = to_batch(BatchRequestSchema().load(orjson.loads(batch_body))["instances"])
        per32 = add("inference, batch of 32", lambda: model.predict(batch32), "whole batch")
        rows.append(("inference, batch of 32, per image", per32 / 32, ""))
        answer = model.predict(batch)[0]
        add("serialise (schema dump + orjson)",
            lambda: orjson.dumps(PredictionSchema().dump(answer)))
        add("serialise (schema dump + stdlib json)",
            lambda: json.dumps(PredictionSchema().dump(answer)), "for comparison")
        answers = {"predictions": model.predict(batch32), "count": 32}
        add("serialise batch of 32 (dump + orjson)",
            lambda: orjson.dumps(BatchPredictionSchema().dump(answers)))
    headers = {"Content-Type": "application/json"}
    add("whole /predict in-process (WSGI, no HTTP)",
        lambda: client.post("/predict", data=body, headers=headers), "Flask test client")
    add("whole /predict/batch of 32 in-process",
        lambda: client.post("/predict/batch", data=batch_body, headers=headers),
        "Flask test client", n=max(50, repeat // 10))
    add("whole /livez in-process", lambda: client.get("/livez"), "the framework's floor")
    return rows


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
