"""digitserve's gthread worker: Gunicorn's, plus the idle memory release the sync worker has.

Requests run in a thread pool; the main thread accepts, dispatches and finishes them. It
counts the requests in the pool, so it can tell when none has run for IDLE_S after a large
batch and then give the batch's memory back (app/web/memory.py). Nothing else changes.
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn.workers import gthread

from app.web import memory
from app.web.refusals import JsonRefusals


class ThreadWorker(JsonRefusals, gthread.ThreadWorker):  # type: ignore[misc]
    """Gunicorn's gthread worker that gives a large batch's memory back once idle."""

    _in_pool = 0  # requests handed to the thread pool and not finished yet
    _last_finished = 0.0

    def enqueue_req(self, conn: Any) -> None:
        """Hand a connection's request to the pool (main thread)."""
        self._in_pool += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Finish a request the pool has answered (main thread, from the method queue)."""
        self._in_pool -= 1
        self._last_finished = time.monotonic()
        super().finish_request(conn, fs)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Wait and dispatch; after a large batch, give memory back once idle for IDLE_S."""
        if not memory.pending():
            super().wait_for_and_dispatch_events(timeout)
            return
        super().wait_for_and_dispatch_events(min(timeout, memory.IDLE_S))
        if not self._in_pool and time.monotonic() - self._last_finished >= memory.IDLE_S:
            memory.release()
