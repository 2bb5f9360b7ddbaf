"""Check a model in a throwaway child of the master, so the master never makes a session itself.

The master imports onnxruntime but must never create a session: its thread pools would not
survive the fork into workers (STYLE.md, the fork trap). A forked child is what a worker is:
it makes the session, classifies the known digits, writes its verdict to a pipe and exits.
A model that crashes or hangs onnxruntime takes down only that child.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.inference.check import check_model
from app.inference.contract import DEFAULT_OPTIONS
from app.inference.contract import Options
from app.web.errors import ModelLoadError

TIMEOUT_S = 60.0  # a model this service can serve loads in well under a second
# Signals Gunicorn's master handles; the child goes back to the defaults.
_MASTER_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM", "SIGTTIN", "SIGTTOU", "SIGUSR1",
                   "SIGUSR2", "SIGWINCH", "SIGCHLD")


@dataclass(frozen=True)
class Verdict:
    """The check's outcome: what the model is, or why it was refused."""

    ok: bool
    reason: str = ""
    name: str = ""
    version: str = ""
    known: str = ""  # "50 of 50"


def check_in_child(content: bytes, path: Path, *, options: Options = DEFAULT_OPTIONS,
                   timeout_s: float = TIMEOUT_S) -> Verdict:
    """Fork, check content (the bytes of path) in the child, and return its verdict."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _run_child(content, path, options, write_end)
    os.close(write_end)
    try:
        raw, finished = _read_all(read_end, time.monotonic() + timeout_s)
    finally:
        os.close(read_end)
        if not finished:
            _kill(pid)
        status = _reap(pid)
    if not finished:
        return Verdict(False, f"checking model {path} took over {timeout_s:.0f} s")
    if not raw:
        return Verdict(False, f"the check of model {path} died ({status}) before answering")
    try:
        return Verdict(**json.loads(raw))
    except (ValueError, TypeError):  # cut off mid-write (an OOM kill), or not a verdict
        return Verdict(False, f"the check of model {path} answered garbage ({status})")


def _run_child(content: bytes, path: Path, options: Options, write_end: int) -> None:
    """Check the model, write the verdict as JSON, and leave at once (no exit handlers)."""
    try:
        for name in _MASTER_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        verdict: dict[str, Any]
        try:
            checked = check_model(content, path, options=options)
            verdict = {"ok": True, "name": checked.info.name, "version": checked.info.version,
                       "known": f"{checked.known_right} of {checked.known_total}"}
        except ModelLoadError as error:
            verdict = {"ok": False, "reason": str(error)}
        except Exception as error:  # anything else the model makes the serving code raise
            verdict = {"ok": False, "reason": f"model {path}: {type(error).__name__}: {error}"}
        data = json.dumps(verdict).encode()
        while data:
            data = data[os.write(write_end, data):]
    finally:
        # onnxruntime's C exit handlers hang in a forked child (see app/server/hooks.py).
        os._exit(0)


def _read_all(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Read fd to its end before deadline; return what came and whether the end came."""
    chunks: list[bytes] = []
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _kill(pid: int) -> None:
    """Kill the child, if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> str:
    """Wait for the child; describe how it ended."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # already reaped by someone else's waitpid(-1)
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
