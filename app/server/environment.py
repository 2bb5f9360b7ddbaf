"""Start-up checks of the environment: every GUNICORN_* and DIGITSERVE_* value, one line each."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable

from flask import Flask

from app.config import ENV_PREFIX
from app.config import ConfigError
from app.config import load_config
from app.server import metricsdir
from app.web.metrics import usable

REFUSED = 3  # the exit status of a server that refuses to start (Gunicorn's boot error's)

Rule = tuple[str, Callable[[str], bool]]


def whole(low: int, high: int | None = None) -> Rule:
    """Accept a whole number from low (to high, if given)."""

    def ok(raw: str) -> bool:
        try:
            value = int(raw)
        except ValueError:
            return False
        return value >= low and (high is None or value <= high)

    return (f"a whole number from {low} to {high}" if high is not None
            else f"a whole number, {low} or more"), ok


def one_of(*choices: str, fold_case: bool = False) -> Rule:
    """Accept one of the choices (in any case, if fold_case)."""
    quoted = [repr(choice) for choice in choices]
    return (" or ".join(quoted) if len(quoted) == 2 else "one of " + ", ".join(quoted),
            lambda raw: (raw.lower() if fold_case else raw) in choices)


def bind_ok(raw: str) -> bool:
    """Check an address as Gunicorn parses it: HOST:PORT, unix:PATH or fd://FD."""
    from gunicorn.util import parse_address

    try:
        address = parse_address(raw)
    except RuntimeError:
        return False
    return raw != "" and (not isinstance(address, tuple) or 0 <= address[1] <= 65535)


def log_file_ok(raw: str) -> bool:
    """Check a log target: "-" (the standard stream), or a file (or FIFO, device) to write."""
    if raw == "-":
        return True
    path = os.path.abspath(raw)
    if os.path.exists(path):
        return not os.path.isdir(path) and os.access(path, os.W_OK)
    return os.path.isdir(os.path.dirname(path)) and os.access(os.path.dirname(path), os.W_OK)


def networks_ok(raw: str) -> bool:
    """Check a comma-separated list of IP addresses or networks, or "*"."""
    try:
        for item in filter(None, (part.strip() for part in raw.split(","))):
            if item != "*":
                ipaddress.ip_network(item)
    except ValueError:
        return False
    return True


LOG_FILE = "'-' (stdout or stderr), a writable file or a file in a writable directory"
# Every GUNICORN_* variable gunicorn.conf.py reads: what it accepts, and the test of a value.
GUNICORN_RULES: dict[str, Rule] = {
    "GUNICORN_BIND": ("HOST:PORT (port 0 to 65535), unix:PATH or fd://FD", bind_ok),
    "GUNICORN_BACKLOG": whole(1),
    "GUNICORN_WORKERS": whole(1),
    "GUNICORN_WORKER_CLASS": one_of("sync", "gthread"),
    "GUNICORN_THREADS": whole(1),
    "GUNICORN_TIMEOUT": whole(0),  # 0: never kill a silent worker
    "GUNICORN_GRACEFUL_TIMEOUT": whole(0),
    "GUNICORN_KEEPALIVE": whole(0),
    "GUNICORN_MAX_REQUESTS": whole(0),  # 0: never recycle
    "GUNICORN_MAX_REQUESTS_JITTER": whole(0),
    "GUNICORN_LIMIT_REQUEST_LINE": whole(1, 8190),  # Gunicorn cuts larger values to 8190
    "GUNICORN_LIMIT_REQUEST_FIELDS": whole(1, 32768),  # and these to 32768
    "GUNICORN_LIMIT_REQUEST_FIELD_SIZE": whole(1),
    "GUNICORN_ACCESSLOG": (f"{LOG_FILE}, or empty (off)",
                           lambda raw: raw == "" or log_file_ok(raw)),
    "GUNICORN_ACCESS_LOG_FORMAT": ("any text", lambda raw: True),
    "GUNICORN_ERRORLOG": (LOG_FILE, log_file_ok),
    "GUNICORN_LOGLEVEL": one_of("debug", "info", "warning", "error", "critical", fold_case=True),
    "GUNICORN_LOG_FORMAT": one_of("text", "json"),
    "GUNICORN_PROC_NAME": ("any text", lambda raw: True),
    "GUNICORN_FORWARDED_ALLOW_IPS": ("comma-separated IP addresses or networks, or '*'",
                                     networks_ok),
    "GUNICORN_CONTROL_SOCKET": ("a file path", lambda raw: raw != ""),
    "GUNICORN_CONTROL_SOCKET_DISABLE": one_of("1", "true", "0", "false", ""),
}


def problems() -> list[str]:
    """Return one line for each GUNICORN_* or DIGITSERVE_* value that is not accepted."""
    lines = [f"Error: {name} is {raw!r}; it must be {accepted}."
             for name, (accepted, ok) in GUNICORN_RULES.items()
             if (raw := os.environ.get(name)) is not None and not ok(raw)]
    metrics_dir = os.environ.get(metricsdir.ENV)
    if metrics_dir is not None and not usable(metrics_dir):
        lines.append(f"Error: {metricsdir.ENV} is {metrics_dir!r}; it must be a directory this "
                     f"user can write.")
    try:
        load_config(Flask("digitserve-settings"))  # DIGITSERVE_* as each worker will read them
    except ConfigError as error:
        for problem in error.problems:
            name = f"{ENV_PREFIX}_{problem.key}"
            shown = os.environ.get(name, problem.value)
            lines.append(f"Error: {name} is {shown!r}; it must be {problem.accepted}.")
    return lines


class _Started:
    """The master that has started serving: its config file runs again on every HUP."""

    pid = 0


def mark_started() -> None:
    """Note that this process's server is up: from now on a refused value cannot stop it."""
    _Started.pid = os.getpid()


def check() -> None:
    """Refuse to start on a bad value: one line each on stderr, exit status 3.

    On a reload (HUP) the environment is the one the server started with, so only a value
    that depends on the filesystem (a log file's directory) can have turned bad: it is
    reported, and the running server goes on.
    """
    lines = problems()
    if not lines:
        return
    if _Started.pid == os.getpid():
        print("\n".join(f"{line} (reload: kept serving)" for line in lines), file=sys.stderr)
        return
    print("\n".join(lines), file=sys.stderr)
    metricsdir.remove_if_temporary(os.getpid())  # gunicorn.conf.py made it a moment ago
    # SystemExit passes through Gunicorn's config loader, which prints any other exception
    # with its traceback.
    raise SystemExit(REFUSED)
