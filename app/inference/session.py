"""Model files and onnxruntime sessions: reading a file whole, one pinned session per worker."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from app.web.errors import ModelLoadError


def read_model_file(path: Path) -> bytes:
    """Read a whole model file, refusing one that is missing, empty or changing as it is read.

    :raises ModelLoadError: naming the file and the problem.
    """
    try:
        before = os.stat(path)
        content = path.read_bytes()
        after = os.stat(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from exc
    if not content:
        raise ModelLoadError(f"model file {path} is empty")
    if (_identity(before) != _identity(after)) or len(content) != after.st_size:
        raise ModelLoadError(f"model file {path} changed while it was read (still being "
                             f"copied?): write it beside the target, then rename it into place")
    return content


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    """Return what changes when a file is rewritten or replaced: inode, device, size, mtime."""
    return stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns


def one_line(text: object) -> str:
    """Squeeze a message (onnxruntime's span several lines) into one line."""
    return " ".join(str(text).split())


def make_session(content: bytes, *, threads: int, path: Path) -> ort.InferenceSession:
    """Make an onnxruntime session from a model file's bytes.

    :raises ModelLoadError: if onnxruntime cannot load them; the message names path.
    """
    try:
        return ort.InferenceSession(content, _session_options(threads),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"cannot load model {path}: {one_line(exc)}") from exc


def shrink_arena_options() -> ort.RunOptions:
    """Run options that return the CPU arena's unused chunks to the system after the run."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _session_options(threads: int) -> ort.SessionOptions:
    """Pin the thread pools: the defaults start a spinning thread per core in every worker."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options
