"""A server that cannot serve refuses to start: one line naming the problem, exit status 3."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import models
from tests.integration.conftest import StartServer

pytestmark = pytest.mark.integration
REFUSED = 3  # the exit status of a refused start (Gunicorn's own for a failed worker boot)
WORKERS = "4"


def run_refused(gunicorn: StartServer, tmp_dir: Path, target: str = "wsgi:app",
                **env: str) -> tuple[int, float, str]:
    """Start gunicorn with env; return its exit status, the seconds it took, and its log."""
    tmp_dir.mkdir()
    began = time.monotonic()
    # TMPDIR: where gunicorn.conf.py makes its directories, which must be gone after.
    server = gunicorn(target=target, TMPDIR=str(tmp_dir), **{"GUNICORN_WORKERS": WORKERS, **env})
    code = server.proc.wait(timeout=10)
    elapsed = time.monotonic() - began
    # (Importing onnxruntime 1.32 leaves a .ses file there too: not ours.)
    assert not list(tmp_dir.glob("digitserve-*")), "a directory outlived the server"
    return code, elapsed, server.log_text()


@pytest.mark.parametrize("kind", sorted(models.REFUSED))
def test_a_bad_model_stops_start_up_in_one_line(gunicorn: StartServer, tmp_path: Path,
                                                kind: str) -> None:
    path = tmp_path / f"{kind}.onnx"
    if (content := models.broken(kind)) is not None:
        path.write_bytes(content)
    code, elapsed, log = run_refused(gunicorn, tmp_path / "tmp", DIGITSERVE_MODEL_PATH=str(path))
    print(f"\n{kind} model: gunicorn exited {code} after {elapsed:.2f} s, {len(log.splitlines())} "
          f"log lines")
    assert code == REFUSED and elapsed < 10, log
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1, log
    assert "refusing to start: " in errors[0] and str(path) in errors[0], errors
    assert models.REFUSED[kind] in errors[0], errors
    assert "Traceback" not in log and "Booting worker" not in log, log
    assert len(log.splitlines()) <= 3, log  # "Starting gunicorn", the error, nothing else


def test_exit_status_is_3_every_time(gunicorn: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    runs = [run_refused(gunicorn, tmp_path / f"tmp{i}", DIGITSERVE_MODEL_PATH=str(path))
            for i in range(4)]
    assert [code for code, _, _ in runs] == [REFUSED] * 4, [log for _, _, log in runs]


@pytest.mark.parametrize(("env", "line"), [
    ({"DIGITSERVE_MAX_BATCH": "0"},
     "Error: DIGITSERVE_MAX_BATCH is '0'; it must be an integer from 1 to 100000."),
    ({"DIGITSERVE_ORT_THREADS": "two"},
     "Error: DIGITSERVE_ORT_THREADS is 'two'; it must be an integer from 1 to 64."),
    ({"DIGITSERVE_LOG_LEVEL": "loud"},
     "Error: DIGITSERVE_LOG_LEVEL is 'loud'; it must be a logging level name."),
    ({"GUNICORN_WORKERS": "two"},
     "Error: GUNICORN_WORKERS is 'two'; it must be a whole number, 1 or more."),
])
def test_a_bad_setting_stops_start_up_in_one_line(gunicorn: StartServer, tmp_path: Path,
                                                  env: dict[str, str], line: str) -> None:
    code, _, log = run_refused(gunicorn, tmp_path / "tmp", **env)
    assert code == REFUSED
    assert log.splitlines() == [line]


def test_workers_failing_to_boot_stop_gunicorn_with_3_every_time(gunicorn: StartServer,
                                                                 tmp_path: Path) -> None:
    # Past the master's checks, 4 workers fail to boot within milliseconds of each other:
    # Gunicorn 27.0.1 alone then dies with exit status 1 about two runs in three (a second
    # failed boot while it halts); app/server/halting.py makes it 3 every time.
    runs = [run_refused(gunicorn, tmp_path / f"tmp{i}", target="tests.integration.bootfail:app")
            for i in range(4)]
    assert [code for code, _, _ in runs] == [REFUSED] * 4, [log for _, _, log in runs]
    assert not any("HaltServer" in log for _, _, log in runs)
    assert all("Worker failed to boot" in log for _, _, log in runs)
