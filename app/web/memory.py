"""Give a worker's peak memory back once it idles after a large batch.

A batch of 256 images arrives as about 1.5 MB of JSON, becomes Python floats and numpy arrays,
and grows onnxruntime's memory arena by about 10 MB. When the answer has gone out, glibc keeps
the freed pages in its free lists and onnxruntime keeps its arena: the worker stays at its
peak for the rest of its life (about 40 MB private instead of 15). Giving that back right after
each batch costs the next batch as much again to fault it back in (+45% CPU for batches of
256), so the worker does it only once it has idled for IDLE_S after a large batch
(app/web/worker.py): under a steady stream of batches nothing is released and nothing is paid.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

LARGE_BATCH = 64  # images; a larger batch leaves memory worth giving back
LARGE_BODY = 1 << 20  # bytes of JSON; parsing a larger body leaves memory worth giving back
IDLE_S = 0.25  # seconds without a new connection before the worker gives it back

_state: dict[str, object] = {"pending": False, "arena": None}


def _find_malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    try:  # the symbols already loaded into Python: glibc's when it runs on glibc
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def after_batch(images: int) -> None:
    """Note that a batch of this many images ran; a large one leaves memory to give back."""
    if images > LARGE_BATCH:
        _state["pending"] = True


def after_body(size: int) -> None:
    """Note that a JSON body of size bytes was read to be parsed (valid or not): a large one
    leaves memory to give back, as a 4 MiB body of small values parses to about 100 MB."""
    if size > LARGE_BODY:
        _state["pending"] = True


def set_arena_release(release: Callable[[], None]) -> None:
    """Register how this process's model hands its arena back (one model a worker)."""
    _state["arena"] = release


def pending() -> bool:
    """Tell whether a large batch ran since memory was last given back."""
    return bool(_state["pending"])


def release() -> None:
    """Hand onnxruntime's arena and glibc's free pages back to the system."""
    _state["pending"] = False
    arena = _state["arena"]
    if callable(arena):
        try:
            arena()
        except Exception:  # a failing model must not take the idle worker down with it
            logging.getLogger("gunicorn.error").exception("giving the arena back failed")
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
