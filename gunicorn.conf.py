"""Gunicorn settings for digitserve; every value can be overridden from the environment.

Laid out like Gunicorn's example config. Gunicorn reads every module-level name that matches
a setting, so helpers here start with an underscore.
"""

from __future__ import annotations

import atexit as _atexit
import logging as _logging
import os as _os
import shutil as _shutil
import tempfile as _tempfile
import time as _time
from collections.abc import Mapping as _Mapping
from pathlib import Path as _Path
from typing import Any as _Any

# Deployment (issue #11): onnxruntime's telemetry starts when onnxruntime is imported, writes a
# device id and an event database under $HOME/.cache and tries to upload events. A server needs
# neither, and in the container HOME is absent and the filesystem read-only: off unless the
# environment says otherwise. Keep this above any import of onnxruntime in this file.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def _env_int(name: str, default: int) -> int:
    """Read an integer setting from the environment."""
    return int(_os.environ.get(name, default))


_cpus = len(_os.sched_getaffinity(0))

# Server socket
bind = _os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# Worker processes.
# One sync worker per core: inference is CPU-bound and holds the core for the whole request,
# so the 2n+1 rule (meant for workers that wait on I/O) only adds processes that queue for
# the same cores and each hold a model in memory. Sync workers close the connection after
# every response; for clients that keep connections open, `gthread` with a few threads saves
# the connect/accept/close per request (perf/README.md measures both: run the sweep).
workers = _env_int("GUNICORN_WORKERS", _cpus)
worker_class = _os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _env_int("GUNICORN_THREADS", 1)  # only used by the gthread worker class
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 2)  # sync workers close after each response anyway
# Recycle a worker after this many requests (0 = never), with jitter so they do not all
# restart at once.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# The model is created after the fork, in each worker: never share an onnxruntime session.
preload_app = False
# The heartbeat file on tmpfs, so a slow disk cannot make the arbiter kill busy workers.
worker_tmp_dir = "/dev/shm" if _os.path.isdir("/dev/shm") else None

# Limits on the request line and headers (the body limit is the app's MAX_CONTENT_LENGTH).
limit_request_line = _env_int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _env_int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _env_int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)

# Logging. The access log is off unless GUNICORN_ACCESSLOG names a file or "-" (stdout);
# keep it the same across perf runs. %(M)s is the request duration in milliseconds and
# %({x-request-id}o)s the id the app returned (the client's, or one it made).
accesslog = _os.environ.get("GUNICORN_ACCESSLOG") or None
access_log_format = _os.environ.get(
    "GUNICORN_ACCESS_LOG_FORMAT",
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %(p)s "%(a)s" request_id=%({x-request-id}o)s',
)
errorlog = _os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = _os.environ.get("GUNICORN_LOGLEVEL", "info")
# GUNICORN_LOG_FORMAT=json: one JSON object a line, for log shippers; access lines carry
# their fields (method, path, status, duration_ms, request_id...) as keys.
_ACCESS_FIELDS = {"remote_addr": "h", "method": "m", "path": "U", "query": "q", "status": "s",
                  "bytes": "B", "duration_ms": "M", "request_id": "{x-request-id}o",
                  "user_agent": "a"}


def _json_formatter() -> _logging.Formatter:
    """Build the JSON formatter (python-json-logger), with access-log atoms as fields."""
    from pythonjsonlogger.json import JsonFormatter

    class AccessJsonFormatter(JsonFormatter):
        def add_fields(self, log_data: dict[str, _Any], record: _logging.LogRecord,
                       message_dict: dict[str, _Any]) -> None:
            super().add_fields(log_data, record, message_dict)
            if record.name == "gunicorn.access" and isinstance(record.args, _Mapping):
                log_data.update({key: record.args[atom] for key, atom in _ACCESS_FIELDS.items()})

    return AccessJsonFormatter("%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                               rename_fields={"asctime": "time", "levelname": "level",
                                              "name": "logger", "process": "pid"})


if _os.environ.get("GUNICORN_LOG_FORMAT", "text") == "json":
    # A logging config replaces errorlog/accesslog: errors go to stderr, access lines (when
    # GUNICORN_ACCESSLOG is set) to stdout.
    logconfig_dict = {
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "propagate": False,
                                "handlers": ["stdout"] if accesslog else ["null"]},
        },
        "formatters": {"json": {"()": _json_formatter}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stdout"},
            "stderr": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stderr"},
            "null": {"class": "logging.NullHandler"},
        },
    }

# Metrics. Workers write their samples to one directory that a scrape of any worker reads.
# prometheus_client picks its storage when a worker imports it, so the variable is set here,
# in the master, before the first fork.
_METRICS_PREFIX = "digitserve-metrics-"
if "PROMETHEUS_MULTIPROC_DIR" not in _os.environ:
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tempfile.mkdtemp(prefix=_METRICS_PREFIX)

# Process naming
proc_name = _os.environ.get("GUNICORN_PROC_NAME", "digitserve")

# Behind a proxy on this host, trust its X-Forwarded-* headers.
forwarded_allow_ips = _os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Control socket (gunicornc). Several servers on one host need their own paths.
if "GUNICORN_CONTROL_SOCKET" in _os.environ:
    control_socket = _os.environ["GUNICORN_CONTROL_SOCKET"]
control_socket_disable = _os.environ.get("GUNICORN_CONTROL_SOCKET_DISABLE", "") in {"1", "true"}


# Server hooks: bookkeeping only.
def on_starting(server: _Any) -> None:
    """Empty the metrics directory: samples of an earlier server would be counted again."""
    metrics_dir = _Path(_os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    # on_exit is skipped when Gunicorn 27 dies halting twice (two workers failing to boot
    # at once exits 1 with a traceback); atexit still runs. Workers inherit the handler,
    # hence the master's pid.
    _atexit.register(_remove_metrics_dir, _os.getpid())
    # Deployment (issue #11): a drain file left by an earlier container of the same pod (the
    # emptyDir outlives it) would hold /readyz at 503 for good: a new server starts undrained.
    if drain_file := _os.environ.get("DIGITSERVE_DRAIN_FILE"):
        _Path(drain_file).unlink(missing_ok=True)


def post_fork(server: _Any, worker: _Any) -> None:
    """Note when the worker started, to log how long its boot took."""
    worker.boot_started = _time.monotonic()


def post_worker_init(worker: _Any) -> None:
    """Log that a worker has imported the app and loaded its own model."""
    elapsed_ms = (_time.monotonic() - getattr(worker, "boot_started", _time.monotonic())) * 1000
    worker.log.info("worker %s ready: app imported and model loaded in %.0f ms", worker.pid,
                    elapsed_ms)


def child_exit(server: _Any, worker: _Any) -> None:
    """Drop a dead worker's live gauges (in-flight, model info) from the metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: _Any) -> None:
    """Remove the metrics directory if this config made it (a temporary one)."""
    _remove_metrics_dir(_os.getpid())


def _remove_metrics_dir(master_pid: int) -> None:
    """Remove the metrics directory, in the master only, if it is a temporary one we made."""
    if _os.getpid() != master_pid:
        return
    metrics_dir = _Path(_os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if metrics_dir.parent == _Path(_tempfile.gettempdir()) and metrics_dir.name.startswith(
            _METRICS_PREFIX):
        _shutil.rmtree(metrics_dir, ignore_errors=True)
