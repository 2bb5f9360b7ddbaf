"""Drain on a real Gunicorn: /readyz says 503 while requests are still served, then a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.load import LoadClient
from tests.integration.load import count
from tests.integration.load import failures

pytestmark = pytest.mark.integration
DRAIN_S = 1.5


def test_drain_keeps_serving_then_term_stops_cleanly(gunicorn: StartServer,
                                                      tmp_path: Path) -> None:
    drain_file = tmp_path / "drain"
    server = gunicorn(DIGITSERVE_DRAIN_FILE=str(drain_file))
    wait_ready(server)
    with LoadClient(server.url) as load:
        load.wait_for_more(30)
        drain_file.touch()  # what the preStop hook does
        drained_at = time.monotonic()
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        served_before = load.done()
        time.sleep(DRAIN_S)
        during = [o for o in load.outcomes if o.started >= drained_at]
        term_at = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)
        code = server.proc.wait(timeout=15)
    stopped_s = time.monotonic() - term_at
    print(f"\ndrain: /readyz {ready.status_code} at once; {load.done() - served_before} requests "
          f"answered in the {DRAIN_S} s drain, {count(during)}; then TERM: exit {code} in "
          f"{stopped_s:.2f} s")
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    assert len(during) > 20 and not failures(during), count(during)
    assert code == 0


def test_a_new_server_starts_undrained(gunicorn: StartServer, tmp_path: Path) -> None:
    drain_file = tmp_path / "drain"
    drain_file.touch()  # left by an earlier container of the same pod
    server = gunicorn(DIGITSERVE_DRAIN_FILE=str(drain_file))
    wait_ready(server)
    assert not drain_file.exists()


def test_onnxruntime_writes_nothing_under_home(gunicorn: StartServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # What onnxruntime does on import unless telemetry is off: a device id and an event
    # database under $HOME/.cache (where the container has no HOME).
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delenv("CI", raising=False)  # onnxruntime also stays quiet where CI is set
    bare_home = tmp_path / "bare"
    bare_home.mkdir()
    subprocess.run([sys.executable, "-c", "import onnxruntime"], check=True, timeout=60,
                   env={**os.environ, "HOME": str(bare_home)})
    written = sorted(str(p.relative_to(bare_home)) for p in bare_home.rglob("*") if p.is_file())
    assert ".cache/Microsoft/DeveloperTools/.onnxruntime/deviceid" in written, written
    # gunicorn.conf.py turns it off before anything imports onnxruntime.
    home = tmp_path / "home"
    home.mkdir()
    server = gunicorn(HOME=str(home))
    wait_ready(server)
    for _ in range(20):
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
    print(f"\nimporting onnxruntime with telemetry on wrote {written}; under gunicorn: "
          f"{sorted(home.rglob('*'))}")
    assert list(home.iterdir()) == []
