"""digitserve's Gunicorn worker: the sync worker, minus waits and system calls it does not need.

Gunicorn's sync worker answers one connection at a time and closes it after the response.
Per request it then (1) half-closes and waits for the client's FIN before closing, so that
unread request bytes cannot make the kernel reset the connection and cut the response short,
(2) touches its heartbeat file, and (3) sets flags the accepted socket already has. Here the
worker closes at once when the request body was read to its end and nothing else is waiting
in the socket (a reset is then impossible), and lingers exactly as Gunicorn does otherwise
(an early 413, a chunked or pipelined request). The heartbeat is written no more often than
once a second, or once a tenth of the timeout when that is shorter (the arbiter needs one
per timeout), so a request runs at least 90% of GUNICORN_TIMEOUT before it is stopped; the
flags are not set again. After a large batch, a worker that has waited IDLE_S for its next
connection gives the batch's memory back (app/web/memory.py).
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

from gunicorn.http.body import LengthReader
from gunicorn.workers import sync

from app.web import memory
from app.web.errors import WorkerTimeoutError
from app.web.refusals import JsonRefusals

HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_SHARE = 0.1  # of the timeout: the most a request can lose of GUNICORN_TIMEOUT


class SyncWorker(JsonRefusals, sync.SyncWorker):  # type: ignore[misc]
    """Gunicorn's sync worker with an immediate close when nothing is left to read."""

    _last_notify = 0.0
    _in_request = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._beat_every = heartbeat_every(self.cfg.timeout)

    def accept(self, listener: Any) -> None:
        """Accept a connection and answer it.

        Gunicorn's own accept() then makes two fcntl() calls and an ioctl() per connection:
        Python's accept() already gives a blocking socket, closed on exec (accept4 with
        SOCK_CLOEXEC; the fd does not inherit the listener's O_NONBLOCK).
        """
        client, addr = listener.accept()
        self.handle(listener, client, addr)

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        """Answer the request, then close now if the lingering close would only wait."""
        self._in_request = True
        try:
            super().handle_request(listener, req, client, addr)
        finally:
            self._in_request = False
        if read_to_end(req) and not pending(client):
            # Gunicorn's close_graceful() then finds the socket closed and returns at once.
            client.close()

    def handle_abort(self, sig: int, frame: Any) -> None:
        """Stop a request that ran past the timeout with a JSON 503, then leave (SIGABRT).

        Gunicorn's worker exits here, mid-request: the client gets Gunicorn's HTML 500 or
        nothing, the access log a 0 ms line with no request id. Here the request is
        interrupted by WorkerTimeoutError, which the app answers as JSON, counts under its
        route and logs with its id; then the worker leaves. A heartbeat now keeps the master
        from killing the worker while it answers. A request stuck inside C code runs no
        Python until it returns: if that takes too long the master kills the worker anyway.
        """
        self.alive = False
        self.cfg.worker_abort(self)
        if not self._in_request:
            sys.exit(1)
        super().notify()
        raise WorkerTimeoutError(f"The request ran past the worker timeout "
                                 f"({self.cfg.timeout} s, GUNICORN_TIMEOUT) and was stopped.")

    def wait(self, timeout: float) -> Any:
        """Wait for a connection; after a large batch, give memory back once idle for IDLE_S."""
        if memory.pending():
            ready = super().wait(min(timeout, memory.IDLE_S))
            if ready:
                return ready
            memory.release()
        return super().wait(timeout)

    def notify(self) -> None:
        """Touch the heartbeat file at most once per heartbeat_every() (it was once a request)."""
        now = time.monotonic()
        if now - self._last_notify >= self._beat_every:
            self._last_notify = now
            super().notify()


def heartbeat_every(timeout: float) -> float:
    """Seconds between heartbeats for a worker timeout (0: no timeout, once a second)."""
    return min(HEARTBEAT_EVERY_S, timeout * HEARTBEAT_SHARE) if timeout else HEARTBEAT_EVERY_S


def read_to_end(req: Any) -> bool:
    """Tell whether the app read the whole Content-Length body (a request without one too)."""
    body = req.body
    reader = body.reader
    return type(reader) is LengthReader and reader.length == 0 and body.buf.tell() == 0


def pending(client: socket.socket) -> bool:
    """Tell whether bytes the app never read are waiting in the socket."""
    try:
        return bool(client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False
    except OSError:
        return False  # reset or closed by the peer: nothing to protect
