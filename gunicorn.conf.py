"""Gunicorn settings for digitserve; every value can be overridden from the environment.

Laid out like Gunicorn's example config: settings and comments. The machinery (checking the
environment, the JSON log format, the metrics directory, the model's checks and reloads, the
worker's exit) lives in app/server/, with its own tests. Gunicorn reads every module-level name
that matches a setting, so helpers here start with an underscore.
"""

import os as _os
import tempfile as _tempfile

# Before anything imports onnxruntime or prometheus_client:
# - onnxruntime's telemetry writes a device id and an event database under $HOME/.cache and
#   tries to upload events; a server needs neither (in the container HOME is absent and the
#   filesystem read-only). Off unless the environment says otherwise.
# - Workers write their metric samples to one directory that a scrape of any worker reads.
#   prometheus_client picks its storage when the app's metrics module is imported, so the
#   directory is named here, in the master, before the first fork: a new temporary one
#   (removed at exit) unless PROMETHEUS_MULTIPROC_DIR names one.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
if "PROMETHEUS_MULTIPROC_DIR" not in _os.environ:
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tempfile.mkdtemp(prefix="digitserve-metrics-")
try:
    _os.makedirs(_os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
except OSError:
    pass  # refused below with the other settings at start; reported (only) on a reload

# Importing the app here, in the master, imports Flask, numpy, onnxruntime and every app module
# once: the workers share those pages instead of each importing its own copy. The app itself
# and its onnxruntime session are still made in each worker, after the fork (wsgi.py).
from app.server import environment as _environment  # noqa: E402
from app.server import hooks as _hooks  # noqa: E402
from app.server import logformat as _logformat  # noqa: E402

# A bad GUNICORN_* or DIGITSERVE_* value stops start-up here: one line each, exit status 3.
_environment.check()
_env = _os.environ.get

# Server socket
bind = _env("GUNICORN_BIND", "127.0.0.1:8000")
backlog = int(_env("GUNICORN_BACKLOG", "2048"))

# Worker processes.
# One sync worker per core, chosen by measurement (perf/README.md: the worker-count sweep).
# Inference is CPU-bound and holds the core for the whole request, so the 2n+1 rule (meant for
# workers that wait on I/O) only adds processes that queue for the same cores, each holding its
# own session. gthread costs the server more CPU per request; its kept-alive connections save
# the client, not the server. "sync" is Gunicorn's sync worker without the lingering close when
# nothing is left to read (app/web/worker.py); "gthread" is Gunicorn's, plus the same release of
# a large batch's memory (app/web/thread_worker.py). As Gunicorn does, a sync worker given more
# than one thread runs as gthread.
_WORKER_CLASSES = {"sync": "app.web.worker.SyncWorker",
                   "gthread": "app.web.thread_worker.ThreadWorker"}
workers = int(_env("GUNICORN_WORKERS", str(len(_os.sched_getaffinity(0)))))
threads = int(_env("GUNICORN_THREADS", "1"))  # only used by the gthread worker class
worker_class = _WORKER_CLASSES["gthread" if threads > 1 else _env("GUNICORN_WORKER_CLASS", "sync")]
timeout = int(_env("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(_env("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(_env("GUNICORN_KEEPALIVE", "2"))  # sync workers close after each response anyway
# Recycle a worker after this many requests (0 = never), with jitter so they do not all
# restart at once.
max_requests = int(_env("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(_env("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# The model is created after the fork, in each worker: never share an onnxruntime session.
preload_app = False
# The heartbeat file on tmpfs, so a slow disk cannot make the arbiter kill busy workers.
worker_tmp_dir = "/dev/shm" if _os.path.isdir("/dev/shm") else None

# Limits on the request line and headers (the body limit is the app's MAX_CONTENT_LENGTH).
limit_request_line = int(_env("GUNICORN_LIMIT_REQUEST_LINE", "4094"))
limit_request_fields = int(_env("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_field_size = int(_env("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))

# Logging. The access log is off unless GUNICORN_ACCESSLOG names a file or "-" (stdout);
# keep it the same across perf runs. %(M)s is the request duration in milliseconds and
# %({x-request-id}o)s the id the app returned (the client's, or one it made).
accesslog = _env("GUNICORN_ACCESSLOG") or None
access_log_format = _env(
    "GUNICORN_ACCESS_LOG_FORMAT",
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %(p)s "%(a)s" request_id=%({x-request-id}o)s',
)
errorlog = _env("GUNICORN_ERRORLOG", "-")
# Gunicorn's logger whose lines never block or raise: a log pipe nobody reads or a full disk
# drops lines (counted in digitserve_log_lines_dropped_total); a failed reopen (SIGUSR1)
# keeps the old file (app/server/serverlog.py).
logger_class = "app.server.serverlog.Logger"
loglevel = _env("GUNICORN_LOGLEVEL", "info")
# GUNICORN_LOG_FORMAT=json: one JSON object a line, for log shippers (errors to stderr, access
# lines to stdout, their fields as keys). A logging config replaces errorlog and accesslog.
if _env("GUNICORN_LOG_FORMAT", "text") == "json":
    logconfig_dict = _logformat.json_logconfig(loglevel, access=accesslog is not None)

# Process naming
proc_name = _env("GUNICORN_PROC_NAME", "digitserve")

# Behind a proxy on this host, trust its X-Forwarded-* headers.
forwarded_allow_ips = _env("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Control socket (gunicornc). Several servers on one host need their own paths.
if "GUNICORN_CONTROL_SOCKET" in _os.environ:
    control_socket = _os.environ["GUNICORN_CONTROL_SOCKET"]
control_socket_disable = _env("GUNICORN_CONTROL_SOCKET_DISABLE", "") in {"1", "true"}

# Server hooks (app/server/hooks.py).
# At start: empty the metrics directory, clear a stale drain file, check the model in a forked
# child (a bad one stops start-up: one line, exit status 3) and keep a private copy of it.
on_starting = _hooks.on_starting
# HUP: check the model file again; a bad one is refused and every worker keeps the last good.
on_reload = _hooks.on_reload
# Before each fork: the checked copy is in place; gc.freeze() keeps the master's pages shared.
pre_fork = _hooks.pre_fork
# Log how long each worker took to import the app and load its model.
post_fork = _hooks.post_fork
post_worker_init = _hooks.post_worker_init
# A dead worker's live gauges leave the metrics.
child_exit = _hooks.child_exit
# A worker ends at once after flushing its logs (onnxruntime's exit handlers hang in a fork).
worker_exit = _hooks.worker_exit
# The directories this server made go with it.
on_exit = _hooks.on_exit
