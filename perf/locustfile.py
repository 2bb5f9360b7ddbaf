"""Locust scenarios for digitserve: typical, stress, batch, capacity and /livez-only users.

Run from the repo root: `locust -f perf/locustfile.py -H http://127.0.0.1:8000 [UserClass]`.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from typing import Any

import orjson
from locust import FastHttpUser
from locust import between
from locust import constant
from locust import constant_throughput
from locust import events
from locust import tag
from locust import task
from locust.env import Environment
from locust.runners import MasterRunner

from perf.digits import JSON
from perf.digits import ONES
from perf.digits import ZEROS
from perf.digits import DigitPool
from perf.digits import calibrate
from perf.digits import check_answer
from perf.digits import check_batch
from perf.digits import read_digits

MAX_FAIL_RATIO = float(os.environ.get("PERF_MAX_FAIL_RATIO", "0"))
MAX_P99_MS = float(os.environ.get("PERF_MAX_P99_MS", "0"))  # 0: no latency threshold
DIGITS = read_digits()  # read once, at import, before Locust forks any --processes
_POOL = "digitserve_pool"  # the Environment attribute that holds this run's DigitPool
log = logging.getLogger("digitserve.perf")


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    """Calibrate the digit pool against the target before any user runs."""
    if not isinstance(environment.runner, MasterRunner) and environment.host:
        setattr(environment, _POOL, calibrate(str(environment.host).rstrip("/"), DIGITS))


@events.quitting.add_listener
def on_quitting(environment: Environment, **_: Any) -> None:
    """Exit non-zero when the failure ratio or p99 passes its PERF_* threshold."""
    total = environment.stats.total
    p99 = total.get_response_time_percentile(0.99) if total.num_requests else 0
    if total.fail_ratio > MAX_FAIL_RATIO:
        log.error("failure ratio %.4f > PERF_MAX_FAIL_RATIO %s", total.fail_ratio, MAX_FAIL_RATIO)
        environment.process_exit_code = 1
    elif MAX_P99_MS and p99 > MAX_P99_MS:
        log.error("p99 %s ms > PERF_MAX_P99_MS %s", p99, MAX_P99_MS)
        environment.process_exit_code = 1


class DigitUser(FastHttpUser):
    """Shared requests: one digit, a batch, a JSON GET; every answer is checked."""

    abstract = True

    def pool(self) -> DigitPool:
        """Return this run's calibrated digits."""
        pool: DigitPool = getattr(self.environment, _POOL)
        return pool

    def post_checked(self, path: str, body: bytes, name: str,
                     check: Callable[[Any], str | None]) -> None:
        """POST a JSON body; fail on a non-200 or on whatever `check` finds in the answer."""
        # bytes go out as they are (Locust's hints say str | dict): bodies are encoded once.
        with self.client.post(path, data=body, headers=JSON, name=name,  # type: ignore[arg-type]
                              catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"HTTP {reply.status_code}: {reply.text[:200]}")
                return
            problem = check(orjson.loads(reply.content))
            if problem:
                reply.failure(problem)
            else:
                reply.success()

    def predict_digit(self) -> None:
        """Classify one random held-out digit; a wrong label is a failure."""
        body, label = random.choice(self.pool().singles)
        self.post_checked("/predict", body, "/predict", lambda a: check_answer(a, label))

    def predict_blank(self, body: bytes, name: str) -> None:
        """Classify a blank image: any label, but a valid answer."""
        self.post_checked("/predict", body, name, lambda a: check_answer(a, None))

    def predict_batch(self) -> None:
        """Classify PERF_BATCH_SIZE digits in one request; every label must match, in order."""
        body, labels = random.choice(self.pool().batches)
        self.post_checked("/predict/batch", body, "/predict/batch",
                          lambda a: check_batch(a, labels))

    def get_json(self, path: str, key: str, expected: Any = None) -> None:
        """GET path; fail unless it answers 200 with `key` (equal to expected, if given)."""
        with self.client.get(path, name=path, catch_response=True) as reply:
            body = orjson.loads(reply.content) if reply.status_code == 200 else {}
            if key in body and (expected is None or body[key] == expected):
                reply.success()
            else:
                reply.failure(f"HTTP {reply.status_code}: {reply.text[:200]}")


class TypicalUser(DigitUser):
    """The old service's mix: predict x10, health x2, root x1, all-zeros x1, all-ones x1."""

    wait_time = between(1, 3)
    weight = 10

    @tag("predict")
    @task(10)
    def digit(self) -> None:
        """Classify a held-out digit."""
        self.predict_digit()

    @tag("health")
    @task(2)
    def health(self) -> None:
        """Check health."""
        self.get_json("/health", "status", "healthy")

    @tag("root")
    @task(1)
    def root(self) -> None:
        """Read the welcome message."""
        self.get_json("/", "message")

    @tag("edge")
    @task(1)
    def zeros(self) -> None:
        """Classify an all-zeros image."""
        self.predict_blank(ZEROS, "/predict [zeros]")

    @tag("edge")
    @task(1)
    def ones(self) -> None:
        """Classify an all-ones image."""
        self.predict_blank(ONES, "/predict [ones]")


class StressUser(DigitUser):
    """Predict only, with a short think time."""

    wait_time = between(0.1, 0.5)
    weight = 3

    @tag("predict")
    @task
    def digit(self) -> None:
        """Classify a held-out digit."""
        self.predict_digit()


class BatchUser(DigitUser):
    """POST /predict/batch with PERF_BATCH_SIZE images, no think time."""

    wait_time = constant(0)

    @tag("batch")
    @task
    def batch(self) -> None:
        """Classify a batch of held-out digits."""
        self.predict_batch()


class CapacityUser(DigitUser):
    """Predict only, no think time: finds the saturation throughput."""

    wait_time = constant(0)

    @tag("predict")
    @task
    def digit(self) -> None:
        """Classify a held-out digit."""
        self.predict_digit()


class LivezUser(DigitUser):
    """GET /livez only, no think time: the HTTP floor of Flask on Gunicorn."""

    wait_time = constant(0)

    @tag("livez")
    @task
    def livez(self) -> None:
        """Ask whether the worker is alive."""
        self.get_json("/livez", "status", "alive")


class GateUser(DigitUser):
    """perf.gate's short mixed load: mostly /predict, some batches, health and the model card."""

    wait_time = constant(0.01)

    @tag("predict")
    @task(8)
    def digit(self) -> None:
        """Classify a held-out digit."""
        self.predict_digit()

    @tag("batch")
    @task(1)
    def batch(self) -> None:
        """Classify a batch."""
        self.predict_batch()

    @tag("health")
    @task(1)
    def ready(self) -> None:
        """Ask whether the model is ready."""
        self.get_json("/readyz", "status", "ready")

    @tag("root")
    @task(1)
    def model(self) -> None:
        """Read the model card."""
        self.get_json("/model", "sha256")


class SoakUser(DigitUser):
    """Predict at a fixed pace (PERF_SOAK_USER_RPS requests/s per user): the soak's load."""

    wait_time = constant_throughput(float(os.environ.get("PERF_SOAK_USER_RPS", "10")))

    @tag("predict")
    @task
    def digit(self) -> None:
        """Classify a held-out digit."""
        self.predict_digit()
