"""Gunicorn settings for digitserve; every value can be overridden from the environment.

Laid out like Gunicorn's example config. Gunicorn reads every module-level name that matches
a setting, so helpers here start with an underscore.
"""

from __future__ import annotations

import atexit as _atexit
import gc as _gc
import ipaddress as _ipaddress
import logging as _logging
import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile
import time as _time
from collections.abc import Callable as _Callable
from collections.abc import Mapping as _Mapping
from pathlib import Path as _Path
from typing import Any as _Any

# Deployment (issue #11): onnxruntime's telemetry starts when onnxruntime is imported, writes a
# device id and an event database under $HOME/.cache and tries to upload events. A server needs
# neither, and in the container HOME is absent and the filesystem read-only: off unless the
# environment says otherwise. Keep this above any import of onnxruntime in this file.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Every GUNICORN_* variable this file reads: what it accepts, and the test of a value. A bad
# value stops start-up with one line naming it, before Gunicorn reads any setting.
_Rule = tuple[str, _Callable[[str], bool]]


def _whole(low: int, high: int | None = None) -> _Rule:
    """Accept a whole number from low (to high, if given)."""

    def ok(raw: str) -> bool:
        try:
            value = int(raw)
        except ValueError:
            return False
        return value >= low and (high is None or value <= high)

    return (f"a whole number from {low} to {high}" if high is not None
            else f"a whole number, {low} or more"), ok


def _one_of(*choices: str, fold_case: bool = False) -> _Rule:
    """Accept one of the choices (in any case, if fold_case)."""
    quoted = [repr(choice) for choice in choices]
    return (" or ".join(quoted) if len(quoted) == 2 else "one of " + ", ".join(quoted),
            lambda raw: (raw.lower() if fold_case else raw) in choices)


def _bind_ok(raw: str) -> bool:
    """Check an address as Gunicorn parses it: HOST:PORT, unix:PATH or fd://FD."""
    from gunicorn.util import parse_address

    try:
        address = parse_address(raw)
    except RuntimeError:
        return False
    return raw != "" and (not isinstance(address, tuple) or 0 <= address[1] <= 65535)


def _log_file_ok(raw: str) -> bool:
    """Check a log target: "-" (the standard stream) or a file Gunicorn can write."""
    path = _Path(raw)
    if raw == "-":
        return True
    if path.exists():
        return path.is_file() and _os.access(path, _os.W_OK)
    return path.parent.is_dir() and _os.access(path.parent, _os.W_OK)


def _networks_ok(raw: str) -> bool:
    """Check a comma-separated list of IP addresses or networks, or "*"."""
    try:
        for item in filter(None, (part.strip() for part in raw.split(","))):
            if item != "*":
                _ipaddress.ip_network(item)
    except ValueError:
        return False
    return True


_LOG_FILE = "'-' (stdout or stderr) or a file in a writable directory"
_ACCEPTED: dict[str, _Rule] = {
    "GUNICORN_BIND": ("HOST:PORT (port 0 to 65535), unix:PATH or fd://FD", _bind_ok),
    "GUNICORN_BACKLOG": _whole(1),
    "GUNICORN_WORKERS": _whole(1),
    "GUNICORN_WORKER_CLASS": _one_of("sync", "gthread"),
    "GUNICORN_THREADS": _whole(1),
    "GUNICORN_TIMEOUT": _whole(0),  # 0: never kill a silent worker
    "GUNICORN_GRACEFUL_TIMEOUT": _whole(0),
    "GUNICORN_KEEPALIVE": _whole(0),
    "GUNICORN_MAX_REQUESTS": _whole(0),  # 0: never recycle
    "GUNICORN_MAX_REQUESTS_JITTER": _whole(0),
    "GUNICORN_LIMIT_REQUEST_LINE": _whole(1, 8190),  # Gunicorn cuts larger values to 8190
    "GUNICORN_LIMIT_REQUEST_FIELDS": _whole(1, 32768),  # and these to 32768
    "GUNICORN_LIMIT_REQUEST_FIELD_SIZE": _whole(1),
    "GUNICORN_ACCESSLOG": (f"{_LOG_FILE}, or empty (off)",
                           lambda raw: raw == "" or _log_file_ok(raw)),
    "GUNICORN_ACCESS_LOG_FORMAT": ("any text", lambda raw: True),
    "GUNICORN_ERRORLOG": (_LOG_FILE, _log_file_ok),
    "GUNICORN_LOGLEVEL": _one_of("debug", "info", "warning", "error", "critical",
                                 fold_case=True),
    "GUNICORN_LOG_FORMAT": _one_of("text", "json"),
    "GUNICORN_PROC_NAME": ("any text", lambda raw: True),
    "GUNICORN_FORWARDED_ALLOW_IPS": ("comma-separated IP addresses or networks, or '*'",
                                     _networks_ok),
    "GUNICORN_CONTROL_SOCKET": ("a file path", lambda raw: raw != ""),
    "GUNICORN_CONTROL_SOCKET_DISABLE": _one_of("1", "true", "0", "false", ""),
}


def _check_environment() -> None:
    """Stop with a message naming every GUNICORN_* variable whose value is not accepted."""
    errors = [f"Error: {name} is {raw!r}; it must be {accepted}."
              for name, (accepted, ok) in _ACCEPTED.items()
              if (raw := _os.environ.get(name)) is not None and not ok(raw)]
    if errors:
        # SystemExit passes through Gunicorn's config loader, which turns any Exception
        # into a traceback; Python prints the message and exits with status 1.
        raise SystemExit("\n".join(errors))


def _env_int(name: str, default: int) -> int:
    """Read an integer setting from the environment (checked by _check_environment)."""
    return int(_os.environ.get(name, default))


_check_environment()

_cpus = len(_os.sched_getaffinity(0))

# Server socket
bind = _os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# Worker processes.
# One sync worker per core, chosen by measurement (perf/sample/: `python -m perf.sweep --gthread 2`
# with Locust and with `--generator wrk`, 1/2/3/4 workers, 2 cores, 2026-12-01). Inference is
# CPU-bound and holds the core for the whole request, so the 2n+1 rule (meant for workers that
# wait on I/O) only adds processes that queue for the same cores: under wrk 2, 3 and 4 sync
# workers cost 349, 363 and 348 us of server CPU per /predict, each extra worker holding its own
# session. gthread costs the server more per request (384-619 us under wrk, 417-688 under
# Locust); under Locust 2 gthread workers served more req/s only because a kept-alive
# connection saved the generator, on the same cores, 90 us a request: the client's saving, not
# the server's. Behind nginx (deploy/) the client's connections end at nginx anyway. "sync" is
# Gunicorn's sync worker without the lingering close after each response when nothing is left
# to read (app/web/worker.py); "gthread" keeps connections open (app/web/thread_worker.py:
# Gunicorn's, plus the same idle release of a large batch's memory).
# Gunicorn runs a sync worker given more than one thread as its gthread worker; so does this
# file, with digitserve's.
_WORKER_CLASSES = {"sync": "app.web.worker.SyncWorker",
                   "gthread": "app.web.thread_worker.ThreadWorker"}
workers = _env_int("GUNICORN_WORKERS", _cpus)
threads = _env_int("GUNICORN_THREADS", 1)  # only used by the gthread worker class
worker_class = _WORKER_CLASSES[
    "gthread" if threads > 1 else _os.environ.get("GUNICORN_WORKER_CLASS", "sync")]
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

# Shared memory. The libraries and the app's modules are imported here, in the master (after
# PROMETHEUS_MULTIPROC_DIR is set, so metric objects pick multiprocess storage), and every
# worker shares their pages instead of importing its own copy; gc.freeze() before each fork
# keeps the collector from writing to (and so copying) those pages in the workers. The app
# itself and its onnxruntime session are still made in each worker after the fork
# (preload_app = False; wsgi.py calls create_app). Metric values made here belong to the
# master's pid, which serves nothing; each worker writes its own files.
_Path(_os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
import app as _app  # noqa: E402,F401,I001  (Flask, numpy, onnxruntime and every app module)

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
    # on_exit is skipped when the master dies another way (an error in its main loop exits
    # without it); atexit still runs. Workers inherit the handler, hence the master's pid.
    _atexit.register(_remove_metrics_dir, _os.getpid())
    # Deployment (issue #11): a drain file left by an earlier container of the same pod (the
    # emptyDir outlives it) would hold /readyz at 503 for good: a new server starts undrained.
    if drain_file := _os.environ.get("DIGITSERVE_DRAIN_FILE"):
        _Path(drain_file).unlink(missing_ok=True)
    _halt_once(server)


def pre_fork(server: _Any, worker: _Any) -> None:
    """Freeze the master's objects, so the worker's garbage collector leaves their pages shared."""
    _gc.freeze()


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


def worker_exit(server: _Any, worker: _Any) -> None:
    """End the worker now, with its exit status, after flushing its logs.

    onnxruntime, imported in the master, registers C exit handlers that wait on a condition
    variable other threads of the master used; in a forked worker they wait forever (a hang
    at exit, after Python is done). Nothing else runs at a worker's exit, so skip it all.
    """
    error = _sys.exc_info()[1]  # Gunicorn calls this hook while the worker's exit unwinds
    code = error.code if isinstance(error, SystemExit) else 0
    _logging.shutdown()
    _sys.stdout.flush()
    _sys.stderr.flush()
    _os._exit(code if isinstance(code, int) else 0 if code is None else 1)


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


def _halt_once(arbiter: _Any) -> None:
    """Make a failed worker boot stop Gunicorn with exit status 3 however many workers fail.

    Gunicorn 27.0.1 halts with WORKER_BOOT_ERROR (3) when it reaps a worker that failed to
    boot, and halt() stops the other workers, reaping them with the same reap_workers().
    When one of them failed to boot too (with a bad model, all do, within milliseconds),
    that raises HaltServer a second time, out of halt() itself: the master dies with a
    traceback and exit status 1, before on_exit. So once the master is stopping, a worker
    that failed to boot is reaped like any other exited worker.
    """
    from gunicorn.errors import HaltServer

    stop, reap_workers = arbiter.stop, arbiter.reap_workers
    stopping = False

    def stop_noted(graceful: bool = True) -> None:
        nonlocal stopping
        stopping = True
        stop(graceful)

    def reap_once_stopping() -> None:
        while True:  # after a swallowed HaltServer, reap the remaining exited workers too
            try:
                reap_workers()
                return
            except HaltServer:
                if not stopping:
                    raise

    arbiter.stop, arbiter.reap_workers = stop_noted, reap_once_stopping
