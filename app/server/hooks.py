"""Gunicorn's server hooks for digitserve; gunicorn.conf.py binds each setting to one of these.

A hook that raises in the master stops the whole server, so every hook that touches files or
directories survives their errors (it logs them), except at first start, where refusing to
start is the point.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import load_config
from app.inference.contract import Options
from app.server import environment
from app.server import halting
from app.server import metricsdir
from app.server.forkcheck import check_in_child
from app.server.modelkeeper import ModelKeeper
from app.web import metrics
from app.web.errors import ModelLoadError

SNAPSHOT_PREFIX = "digitserve-model-"  # the private directory of checked model copies
_KEEPER = "digitserve_model"  # the ModelKeeper, kept on the arbiter (it outlives reloads)


def on_starting(server: Any) -> None:
    """Prepare the master's files, then check the model: a bad one stops start-up (exit 3)."""
    environment.mark_started()
    metricsdir.empty()
    snapshots = Path(tempfile.mkdtemp(prefix=SNAPSHOT_PREFIX))
    # on_exit is skipped when the master dies another way (an error in its main loop exits
    # without it); atexit still runs. Workers inherit the handler, hence the master's pid.
    atexit.register(_remove_files, os.getpid(), snapshots)
    # A drain file left by an earlier container of the same pod (the emptyDir outlives it)
    # would hold /readyz at 503 for good: a new server starts undrained.
    if drain_file := os.environ.get("DIGITSERVE_DRAIN_FILE"):
        try:
            Path(drain_file).unlink(missing_ok=True)
        except OSError as error:
            server.log.warning("drain file %s: %s", drain_file, error)
    halting.halt_once(server)
    config = Flask("digitserve-settings")
    load_config(config)  # checked by gunicorn.conf.py already
    keeper = ModelKeeper(Path(config.config["MODEL_PATH"]), snapshots,
                         partial(check_in_child, options=Options.from_config(config.config)))
    try:
        keeper.start()
    except ModelLoadError as error:
        server.log.error("refusing to start: %s", error)
        sys.exit(environment.REFUSED)
    setattr(server, _KEEPER, keeper)
    _count_reload(None)


def on_reload(server: Any) -> None:
    """HUP: check the model file again before the new workers start; never stop the server."""
    try:
        outcome = getattr(server, _KEEPER).reload()
    except Exception:  # a bug here must not end the master: the last good model serves on
        server.log.exception("model reload failed; the last good model serves on")
        outcome = "refused"
    _count_reload(outcome)


def pre_fork(server: Any, worker: Any) -> None:
    """Make sure the checked model copy and the metrics directory are there; freeze.

    gc.freeze() keeps the worker's garbage collector from writing to (and so copying) the
    pages of everything the master imported.
    """
    getattr(server, _KEEPER).ensure_snapshot()
    metricsdir.ensure()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """Note when the worker started, to log how long its boot took."""
    worker.boot_started = time.monotonic()


def post_worker_init(worker: Any) -> None:
    """Log that a worker has imported the app and loaded its own model."""
    elapsed_ms = (time.monotonic() - getattr(worker, "boot_started", time.monotonic())) * 1000
    worker.log.info("worker %s ready: app imported and model loaded in %.0f ms", worker.pid,
                    elapsed_ms)


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's samples into the metrics archive and remove its files."""
    metricsdir.mark_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    """End the worker now, with its exit status, after flushing its logs.

    onnxruntime, imported in the master, registers C exit handlers that wait on a condition
    variable other threads of the master used; in a forked worker they wait forever (a hang
    at exit, after Python is done). Nothing else runs at a worker's exit, so skip it all.
    """
    error = sys.exc_info()[1]  # Gunicorn calls this hook while the worker's exit unwinds
    code = error.code if isinstance(error, SystemExit) else 0
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def on_exit(server: Any) -> None:
    """Remove the directories this server made (temporary metrics, model copies)."""
    keeper = getattr(server, _KEEPER, None)
    if keeper is not None:
        _remove_files(os.getpid(), keeper.directory)


def _remove_files(master_pid: int, snapshots: Path) -> None:
    """Remove the model copies and a temporary metrics directory, in the master only."""
    if os.getpid() != master_pid:
        return
    shutil.rmtree(snapshots, ignore_errors=True)
    metricsdir.remove_if_temporary(master_pid)


def _count_reload(outcome: str | None) -> None:
    """Count a reload's outcome (None: make every outcome's count appear, at 0)."""
    try:
        for result in metrics.RELOAD_RESULTS:
            child = metrics.MODEL_RELOADS.labels(result)
            if result == outcome:
                child.inc()
    except (OSError, ValueError) as error:  # a gone or broken metrics file: the count is lost
        logging.getLogger("gunicorn.error").warning("model reload count: %s", error)
