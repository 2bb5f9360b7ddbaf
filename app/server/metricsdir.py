"""The metrics directory's life: emptied at start, dead workers folded in, removed at exit.

gunicorn.conf.py names the directory (PROMETHEUS_MULTIPROC_DIR, a new temporary one unless
set) before anything imports prometheus_client, which picks its storage at import. The
directory holds the live processes' files and one archive of each type, whatever the number
of workers that came and went (app/web/metricfiles.py). Nothing here raises: a hook that
raised would stop the master.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from app.web import metricfiles

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


def ensure() -> None:
    """Make the directory again if it was removed (before a fork: new workers write there)."""
    if directory().is_dir():
        return
    try:
        directory().mkdir(parents=True, exist_ok=True)
        log.warning("metrics directory %s was gone: made again; the samples it held are lost",
                    directory())
    except OSError as error:
        log.warning("metrics directory %s is gone and cannot be made (%s): workers run "
                    "without metrics", directory(), error)


def mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges; fold its counters and histograms into the archive."""
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        metricfiles.fold_in(directory(), pid)
    except Exception as error:  # a hook that raised would stop the master
        log.warning("metrics directory %s: cannot fold in worker %s's samples: %s",
                    directory(), pid, error)


def is_temporary(path: Path) -> bool:
    """Tell whether path is a temporary directory gunicorn.conf.py made (removed at exit)."""
    return path.parent == Path(tempfile.gettempdir()) and path.name.startswith(PREFIX)


def remove_if_temporary(master_pid: int) -> None:
    """Remove the directory, in the master only, if it is a temporary one we made."""
    if os.getpid() == master_pid and ENV in os.environ and is_temporary(directory()):
        shutil.rmtree(directory(), ignore_errors=True)
