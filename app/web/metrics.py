"""Prometheus metrics: the metric objects, the request hooks and GET /metrics.

Under Gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set up by
gunicorn.conf.py before the fork) and a scrape of any worker reads them all. Without that
variable (tests, `flask run`) the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_INFERENCE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
UNMATCHED = "<unmatched>"  # unknown paths: one label value, however many clients try

REQUESTS = Counter("digitserve_http_requests_total", "HTTP requests answered.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("digitserve_http_request_duration_seconds",
                    "Time from the app receiving a request to its response.", ["endpoint"],
                    buckets=_LATENCY_BUCKETS)
IN_FLIGHT = Gauge("digitserve_http_requests_in_flight", "Requests being handled now.",
                  multiprocess_mode="livesum")
INFERENCE = Histogram("digitserve_inference_duration_seconds",
                      "Time of one onnxruntime call (a whole batch).", buckets=_INFERENCE_BUCKETS)
BATCH_SIZE = Histogram("digitserve_inference_batch_size", "Images per onnxruntime call.",
                       buckets=_BATCH_BUCKETS)
MODEL_INFO = Gauge("digitserve_model_info", "The loaded model (value 1).",
                   ["name", "version", "sha256"], multiprocess_mode="livemax")


@contextmanager
def time_inference(batch_size: int) -> Iterator[None]:
    """Record the duration and batch size of the onnxruntime call made inside the block."""
    started = time.perf_counter()
    yield
    INFERENCE.observe(time.perf_counter() - started)
    BATCH_SIZE.observe(batch_size)


def set_model_info(name: str, version: str, sha256: str) -> None:
    """Publish which model this worker serves."""
    MODEL_INFO.labels(name, version, sha256).set(1)


class MetricsMiddleware:
    """WSGI middleware that counts and times every request the app answers.

    Plain WSGI costs a few microseconds a request where Flask hooks cost about 20.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wsgi_app = app.wsgi_app
        self._static_paths: frozenset[str] | None = None

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        """Call the app, then record the endpoint, method, status and duration."""
        started = time.perf_counter()
        status = []

        def record_status(code: str, headers: list[tuple[str, str]],
                          exc_info: Any = None) -> Any:
            status.append(code[:3])
            return start_response(code, headers, exc_info)

        IN_FLIGHT.inc()
        try:
            return self.wsgi_app(environ, record_status)
        finally:
            IN_FLIGHT.dec()
            endpoint = self._endpoint(environ)
            REQUESTS.labels(endpoint, environ.get("REQUEST_METHOD", ""),
                            status[0] if status else "500").inc()
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)

    def _endpoint(self, environ: WSGIEnvironment) -> str:
        """Name the route a request hit, by its rule, so that label values stay few."""
        if self._static_paths is None:  # the blueprints are registered after init_app
            self._static_paths = frozenset(
                rule.rule for rule in self.app.url_map.iter_rules() if not rule.arguments)
        path = environ.get("PATH_INFO", "")
        if path in self._static_paths:
            return str(path)
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return UNMATCHED
        return str(rule.rule)


def scrape() -> Response:
    """Serve every worker's metrics in Prometheus' text format."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request, and serve GET /metrics."""
    app.wsgi_app = MetricsMiddleware(app)  # type: ignore[method-assign]
    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
