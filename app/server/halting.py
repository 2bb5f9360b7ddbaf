"""One failed worker boot stops Gunicorn with exit status 3, however many workers fail at once."""

from __future__ import annotations

from typing import Any

from gunicorn.errors import HaltServer


def halt_once(arbiter: Any) -> None:
    """Make a failed worker boot stop Gunicorn with exit status 3 however many workers fail.

    Gunicorn 27.0.1 halts with WORKER_BOOT_ERROR (3) when it reaps a worker that failed to
    boot, and halt() stops the other workers, reaping them with the same reap_workers().
    When one of them failed to boot too (with a bad model, all do, within milliseconds),
    that raises HaltServer a second time, out of halt() itself: the master dies with a
    traceback and exit status 1, before on_exit. So once the master is stopping, a worker
    that failed to boot is reaped like any other exited worker.
    """
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
