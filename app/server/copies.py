"""The private directory of checked model copies the workers load: written whole, kept few."""

from __future__ import annotations

import logging
from pathlib import Path

KEEP = 2  # copies kept: the served one, and the one before it (a worker may still read it)
log = logging.getLogger("gunicorn.error")


def write(directory: Path, content: bytes, sha256: str) -> Path:
    """Write content as the copy named by its sha256, whole and read-only; return its path.

    :raises OSError: if the directory cannot be made or written.
    """
    target = directory / f"{sha256}.onnx"
    rewrite(target, content)
    forget_old(directory)
    return target


def rewrite(target: Path, content: bytes) -> None:
    """Write content to target whole (a temporary name, then a rename), read-only.

    :raises OSError: if the directory cannot be made or written.
    """
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)  # left read-only by a write that failed
    partial.write_bytes(content)
    partial.chmod(0o400)
    partial.replace(target)


def in_place(target: Path, content: bytes) -> bool:
    """Tell whether the copy at target is still there, at its size."""
    try:
        return target.stat().st_size == len(content)
    except OSError:
        return False


def forget_old(directory: Path) -> None:
    """Remove copies older than the last KEEP (by modification time); never raises."""
    try:
        copies = sorted(directory.glob("*.onnx"), key=lambda p: p.stat().st_mtime_ns,
                        reverse=True)
        for old in copies[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as error:  # only tidying: the served copy is in place
        log.warning("old model copies in %s: %s", directory, error)
