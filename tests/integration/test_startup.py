"""A broken model stops Gunicorn quickly, with exit status 3 and a message naming the file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.integration.conftest import StartServer
from tests.support import DATA_DIR
from tests.support import MODEL_PATH

pytestmark = pytest.mark.integration
WORKER_BOOT_ERROR = 3  # Gunicorn's exit status when a worker fails to boot
# Four workers failing at once: before gunicorn.conf.py's _halt_once, Gunicorn 27.0.1 died
# with exit status 1 in about two runs of three (a second failed boot while halting).
WORKERS = "4"

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


def run_broken(gunicorn: StartServer, path: Path, tmp_dir: Path) -> tuple[int, float, str]:
    """Start gunicorn on a broken model; return its exit status, seconds taken and log."""
    tmp_dir.mkdir()
    began = time.monotonic()
    # TMPDIR: where gunicorn.conf.py makes the metrics directory, which must be gone after.
    server = gunicorn(DIGITSERVE_MODEL_PATH=str(path), GUNICORN_WORKERS=WORKERS,
                      TMPDIR=str(tmp_dir))
    code = server.proc.wait(timeout=10)
    elapsed = time.monotonic() - began
    # (Importing onnxruntime 1.32 leaves a .ses file there too: not ours.)
    assert not list(tmp_dir.glob("digitserve-metrics-*")), "the metrics directory outlived it"
    return code, elapsed, server.log_text()


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_broken_model_stops_gunicorn(gunicorn: StartServer, tmp_path: Path, kind: str) -> None:
    path = write_broken_model(kind, tmp_path)
    code, elapsed, log = run_broken(gunicorn, path, tmp_path / "tmp")
    print(f"\n{kind} model: gunicorn exited {code} after {elapsed:.2f} s")
    assert code == WORKER_BOOT_ERROR and elapsed < 10, log
    assert "Worker failed to boot" in log and "Traceback" not in log.split("Shutting down")[-1]
    errors = [line for line in log.splitlines()
              if line.startswith("app.web.errors.ModelLoadError: ")]
    assert errors, log
    assert MESSAGES[kind].format(path=path) in errors[0]
    if kind == "truncated":
        assert "protobuf parsing failed" in errors[0].lower()


def test_exit_status_is_3_every_time(gunicorn: StartServer, tmp_path: Path) -> None:
    path = write_broken_model("empty", tmp_path)
    runs = [run_broken(gunicorn, path, tmp_path / f"tmp{i}") for i in range(4)]
    codes = [code for code, _, _ in runs]
    print(f"\nempty model, {WORKERS} workers, 4 runs: exit statuses {codes}, "
          f"{sum(log.count('exited with code 3') for _, _, log in runs)} failed boots")
    assert codes == [WORKER_BOOT_ERROR] * 4, [log for _, _, log in runs]
    assert not any("HaltServer" in log for _, _, log in runs)
