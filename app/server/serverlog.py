"""Logging that can neither stop nor hang the server: lines that cannot be written are dropped.

Gunicorn's handlers write with blocking calls and raise (then print a traceback) when a write
fails: a log pipe nobody reads freezes the master and every worker, a full filesystem costs a
traceback a request, and SIGUSR1 with an unwritable log path stops the master. Here every line
is one non-blocking write to a descriptor of its own: a line that would block, or fails, is
dropped and counted (digitserve_log_lines_dropped_total). A failed reopen keeps the old file.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import sys
from typing import Any
from typing import TextIO

from gunicorn import glogging

from app.web import metrics

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC


class LossyHandler(logging.Handler):
    """Write each record with one non-blocking write; drop (and count) it if that fails.

    target is "-" for stream (the process's stdout or stderr), or a file path.
    """

    def __init__(self, target: str = "-", stream: TextIO | None = None) -> None:
        super().__init__()
        self.target = target
        self.stream = stream or sys.stderr
        self._fd, self._socket = self._open()

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record as one line, or drop it; never block, never raise."""
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            while data:
                if self._socket is not None:
                    written = self._socket.send(data, socket.MSG_DONTWAIT)
                else:
                    written = os.write(self._fd, data)
                data = data[written:]
        except Exception:  # a full pipe, a full disk, a closed reader: the line is lost
            dropped(record.name)

    def reopen(self) -> None:
        """Open the target again (after log rotation); on failure keep writing where we were."""
        if self.target == "-":
            return
        try:
            fd, sock = self._open()
        except OSError as error:
            self.emit(logging.makeLogRecord({
                "name": "gunicorn.error", "levelno": logging.ERROR, "levelname": "ERROR",
                "msg": "cannot reopen log file %s (%s): writing on to the file opened before",
                "args": (self.target, error.strerror)}))
            return
        old = self._fd, self._socket
        self._fd, self._socket = fd, sock
        _release(*old)

    def close(self) -> None:
        """Close the handler's own descriptor."""
        _release(self._fd, self._socket)
        super().close()

    def _open(self) -> tuple[int, socket.socket | None]:
        """Open a descriptor of our own, non-blocking: its flags are shared with no one."""
        if self.target != "-":
            if os.path.exists(self.target) and stat.S_ISFIFO(os.stat(self.target).st_mode):
                # Read-write: no wait for a reader (and no ENXIO), no SIGPIPE when it leaves.
                return os.open(self.target, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC), None
            return os.open(self.target, _FLAGS | os.O_CREAT, 0o644), None
        fd = self.stream.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISSOCK(mode):  # journald: a socket, sent with MSG_DONTWAIT
            return (dup := os.dup(fd)), socket.socket(fileno=dup)
        if stat.S_ISREG(mode):  # `2>file`: never blocks; share its offset with direct writes
            return os.dup(fd), None
        try:  # a pipe, FIFO, file or terminal opened anew: a description of its own
            return os.open(f"/proc/self/fd/{fd}", _FLAGS), None
        except OSError:  # no /proc: the shared descriptor, whose writes may block
            return os.dup(fd), None


def _release(fd: int, sock: socket.socket | None) -> None:
    """Close a descriptor once: through its socket object when it has one (which owns it)."""
    try:
        if sock is not None:
            sock.close()
        else:
            os.close(fd)
    except OSError:
        pass


def dropped(logger: str) -> None:
    """Count a log line that could not be written."""
    try:
        metrics.LOG_LINES_DROPPED.labels("access" if logger == "gunicorn.access"
                                         else "error").inc()
    except Exception:  # the metrics directory may be gone too: nothing more to do
        pass


class Logger(glogging.Logger):  # type: ignore[misc]
    """Gunicorn's logger with LossyHandlers and a reopen that cannot fail."""

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter,
                     stream: TextIO | None = None) -> None:
        """Install a LossyHandler for output ("-": stream, else a file path), or none."""
        for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
            log.removeHandler(handler)
            handler.close()
        if output is not None:
            handler = LossyHandler(output, stream)
            handler.setFormatter(fmt)
            handler._gunicorn = True  # type: ignore[attr-defined]  # Gunicorn's own mark
            log.addHandler(handler)

    def reopen_files(self) -> None:
        """Reopen every file handler's file (SIGUSR1); a failure keeps the old one."""
        for name in ("gunicorn.error", "gunicorn.access"):
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, LossyHandler):
                    handler.reopen()

    def close_on_exec(self) -> None:
        """Nothing to do: LossyHandler's descriptors are opened close-on-exec."""


def lossy_stream_handler(stream: Any) -> LossyHandler:
    """Build a LossyHandler on stream, for logging.config (the JSON log format)."""
    return LossyHandler("-", stream)
