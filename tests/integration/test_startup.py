"""A broken model stops Gunicorn quickly, with a non-zero exit and a message naming the file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.integration.conftest import StartServer
from tests.support import DATA_DIR
from tests.support import MODEL_PATH

pytestmark = pytest.mark.integration

# What app/model.py says for each kind of broken file; {path} is the file's full path.
MESSAGES = {
    "missing": "cannot read model file {path}: No such file or directory",
    "empty": "model file {path} is empty",
    "truncated": "cannot load model {path}: [ONNXRuntimeError]",
    "wrong_shape": "model {path} input must be float (N, 1, 28, 28), is tensor(float) ['N', 784]",
}


def write_broken_model(kind: str, directory: Path) -> Path:
    """Write (or, for "missing", do not write) a model file broken in the given way."""
    path = directory / f"{kind}.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        content = MODEL_PATH.read_bytes()
        path.write_bytes(content[: len(content) // 2])
    elif kind == "wrong_shape":
        shutil.copy(DATA_DIR / "wrong_shape.onnx", path)
    return path


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_broken_model_stops_gunicorn(gunicorn: StartServer, tmp_path: Path, kind: str) -> None:
    path = write_broken_model(kind, tmp_path)
    began = time.monotonic()
    server = gunicorn(DIGITSERVE_MODEL_PATH=str(path))
    code = server.proc.wait(timeout=10)
    elapsed = time.monotonic() - began
    print(f"\n{kind} model: gunicorn exited {code} after {elapsed:.2f} s")
    log = server.log_text()
    # Usually 3 (WORKER_BOOT_ERROR). When the second worker fails while the master is already
    # halting for the first, Gunicorn's stop() raises HaltServer again and the master dies with
    # a traceback (exit 1) that still says "Worker failed to boot."
    assert code != 0 and elapsed < 10
    assert "Worker failed to boot" in log
    errors = [line for line in log.splitlines()
              if line.startswith("app.web.errors.ModelLoadError: ")]
    assert errors, log
    assert MESSAGES[kind].format(path=path) in errors[0]
    if kind == "truncated":
        assert "protobuf parsing failed" in errors[0].lower()
