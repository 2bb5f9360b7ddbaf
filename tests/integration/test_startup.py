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

PROBLEMS = {
    "missing": "No such file or directory",
    "empty": "is empty",
    "truncated": "cannot load model",
    "wrong_shape": "input must be float (N, 1, 28, 28)",
}


def broken_model(kind: str, tmp_path: Path) -> Path:
    """Write (or not) a model file broken in the given way; return its path."""
    path = tmp_path / f"{kind}.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(MODEL_PATH.read_bytes()[: MODEL_PATH.stat().st_size // 2])
    elif kind == "wrong_shape":
        shutil.copy(DATA_DIR / "wrong_shape.onnx", path)
    return path


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_broken_model_stops_gunicorn(gunicorn: StartServer, tmp_path: Path, kind: str) -> None:
    path = broken_model(kind, tmp_path)
    began = time.monotonic()
    server = gunicorn(DIGITSERVE_MODEL_PATH=str(path))
    code = server.proc.wait(timeout=10)
    elapsed = time.monotonic() - began
    log = server.log_text()
    assert code != 0
    assert elapsed < 10
    assert "Worker failed to boot" in log
    message = next(line for line in log.splitlines()
                   if line.startswith("app.errors.ModelLoadError: "))
    assert str(path) in message and PROBLEMS[kind] in message
