"""Prometheus metrics: the metric objects, the request hooks and GET /metrics.

Under Gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set up by
gunicorn.conf.py before the fork) and a scrape of any worker reads them all, dead workers'
samples from their archive (app/web/metricfiles.py). Without that variable (tests,
`flask run`) the process's own registry is served. A worker that cannot write its samples
(the directory gone read-only) stops recording and keeps serving: metrics never fail a
request or a boot.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
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
from prometheus_client import values
from werkzeug.exceptions import ServiceUnavailable

from app.web import metricfiles

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_INFERENCE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
UNMATCHED = "<unmatched>"  # unknown paths: one label value, however many clients try
REFUSED = "<refused>"  # requests the worker refused before the app saw them (refusals.py)
OTHER = "OTHER"  # unusual methods: one label value
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})



class ForkAwarePid:
    """os.getpid() without a system call: the pid, remembered and renewed after each fork.

    In multiprocess mode prometheus_client asks for the pid on every metric write, to notice a
    fork; nine writes a request made nine getpid() system calls. Its documented
    process_identifier hook takes this instead (pids of running processes stay distinct).
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        """Take the new process's pid (called in the child right after a fork)."""
        self.pid = os.getpid()

    def __call__(self) -> int:
        return self.pid


MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def usable(directory: str) -> bool:
    """Tell whether a metrics directory can hold sample files."""
    return os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK)


# Chosen before the metric objects below are made. A directory that cannot hold files
# (refused at start by app/server/environment.py) leaves the process's own registry in use.
MULTIPROCESS = bool(MULTIPROC_DIR) and usable(MULTIPROC_DIR)
values.ValueClass = (values.MultiProcessValue(  # type: ignore[no-untyped-call]
    process_identifier=ForkAwarePid()) if MULTIPROCESS else values.MutexValue)

REQUESTS = Counter("digitserve_http_requests_total", "HTTP requests answered.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("digitserve_http_request_duration_seconds",
                    "Time from the app receiving a request to its response.", ["endpoint"],
                    buckets=_LATENCY_BUCKETS)
IN_FLIGHT = Gauge("digitserve_http_requests_in_flight", "Requests being handled now.",
                  multiprocess_mode="livesum")
INFERENCE = Histogram("digitserve_inference_duration_seconds",
                      "Time to classify one batch: the onnxruntime call and building the answers.",
                      buckets=_INFERENCE_BUCKETS)
BATCH_SIZE = Histogram("digitserve_inference_batch_size", "Images per onnxruntime call.",
                       buckets=_BATCH_BUCKETS)
LOG_LINES_DROPPED = Counter("digitserve_log_lines_dropped_total",
                            "Log lines dropped because their destination was full, blocked or "
                            "gone (a pipe nobody reads, a full disk).", ["log"])
RELOAD_RESULTS = ("accepted", "unchanged", "refused")
MODEL_RELOADS = Counter("digitserve_model_reloads_total",
                        "Model reloads (HUP) by result: accepted, unchanged, or refused (the last "
                        "good model kept serving). Counted by the Gunicorn master.", ["result"])
MODEL_INFO = Gauge("digitserve_model_info", "The loaded model (value 1).",
                   ["name", "version", "sha256"], multiprocess_mode="livemax")


class Recording:
    """Whether this process still records its samples (off once its files cannot be written)."""

    on = True

    @classmethod
    def stop(cls, error: Exception) -> None:
        """Stop recording for the rest of this process's life, and say why once."""
        if cls.on:
            cls.on = False
            logging.getLogger("gunicorn.error").error(
                "metrics: cannot write samples to %s (%s): this worker stops recording them "
                "and keeps serving", MULTIPROC_DIR, error)


class InferenceTimer:
    """Record the duration and batch size of the classification made inside the block."""

    __slots__ = ("batch_size", "started")

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if Recording.on:
            try:
                INFERENCE.observe(time.perf_counter() - self.started)
                BATCH_SIZE.observe(self.batch_size)
            except (OSError, ValueError) as error:
                Recording.stop(error)


def set_model_info(name: str, version: str, sha256: str) -> None:
    """Publish which model this worker serves (its first write of a sample after the fork)."""
    try:
        MODEL_INFO.labels(name, version, sha256).set(1)
    except (OSError, ValueError) as error:
        Recording.stop(error)


class MetricsMiddleware:
    """WSGI middleware that counts and times every request the app answers.

    The endpoint label is the URL rule Flask matched, read from the request Flask keeps in
    the environ while it answers: no second URL match. Label children are looked up once per
    (endpoint, method, status) and kept.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        """Call the app, then record the endpoint, method, status and duration."""
        started = time.perf_counter()
        labels: list[tuple[str, str, str]] = []

        def record_status(status: str, headers: list[tuple[str, str]],
                          exc_info: Any = None) -> Any:
            labels.append(_labels(environ, status))
            return start_response(status, headers, exc_info)

        if not Recording.on:
            return self.wsgi_app(environ, start_response)
        try:
            IN_FLIGHT.inc()
        except (OSError, ValueError) as error:
            Recording.stop(error)
            return self.wsgi_app(environ, start_response)
        try:
            return self.wsgi_app(environ, record_status)
        finally:
            key = labels[-1] if labels else (UNMATCHED, _method(environ), "500")
            try:
                IN_FLIGHT.dec()
                children = self._children.get(key)
                if children is None:
                    children = self._children[key] = (REQUESTS.labels(*key),
                                                      LATENCY.labels(key[0]))
                children[0].inc()
                children[1].observe(time.perf_counter() - started)
            except (OSError, ValueError) as error:  # a new sample file cannot be made
                Recording.stop(error)


def _labels(environ: WSGIEnvironment, status: str) -> tuple[str, str, str]:
    """Name the endpoint (the matched URL rule), the method and the status code."""
    req = environ.get("werkzeug.request")  # set by Flask until the request context ends
    rule = getattr(req, "url_rule", None)
    return (rule.rule if rule is not None else UNMATCHED, _method(environ), status[:3])


def _method(environ: WSGIEnvironment) -> str:
    """Return the request method, or OTHER for one outside HTTP's usual set (few labels)."""
    return method_label(environ.get("REQUEST_METHOD", ""))


def method_label(method: str) -> str:
    """Return method, or OTHER for one outside HTTP's usual set (few label values)."""
    return method if method in _METHODS else OTHER


def scrape() -> Response:
    """Serve every worker's metrics in Prometheus' text format."""
    if MULTIPROCESS:
        directory = MULTIPROC_DIR
        if not os.path.isdir(directory):  # removed under us: made again, for new samples
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as error:
                raise ServiceUnavailable(f"Metrics are unavailable: their directory cannot be "
                                         f"made ({error.strerror}).") from None
            logging.getLogger("gunicorn.error").warning(
                "metrics directory %s was gone: made again", directory)
        registry = CollectorRegistry()
        metricfiles.ArchiveAwareCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request, and serve GET /metrics."""
    app.wsgi_app = MetricsMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
