"""The metrics directory's life: emptied at start, a dead worker's gauges dropped, removed at exit.

gunicorn.conf.py names the directory (PROMETHEUS_MULTIPROC_DIR, a new temporary one unless
set) before anything imports prometheus_client, which picks its storage at import.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "digitserve-metrics-"  # gunicorn.conf.py's temporary directories start with it

log = logging.getLogger("gunicorn.error")


def directory() -> Path:
    """Return the metrics directory the workers write to."""
    return Path(os.environ[ENV])


def empty() -> None:
    """Make the directory if it is missing and remove an earlier server's samples from it."""
    try:
        directory().mkdir(parents=True, exist_ok=True)
        for stale in directory().glob("*.db"):
            stale.unlink(missing_ok=True)
    except OSError as error:
        log.warning("metrics directory %s: %s; metrics may be incomplete", directory(), error)


def mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (in-flight, model info) from the metrics."""
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
    except OSError as error:
        log.warning("metrics directory %s: %s", directory(), error)


def is_temporary(path: Path) -> bool:
    """Tell whether path is a temporary directory gunicorn.conf.py made (removed at exit)."""
    return path.parent == Path(tempfile.gettempdir()) and path.name.startswith(PREFIX)


def remove_if_temporary(master_pid: int) -> None:
    """Remove the directory, in the master only, if it is a temporary one we made."""
    if os.getpid() == master_pid and ENV in os.environ and is_temporary(directory()):
        shutil.rmtree(directory(), ignore_errors=True)
