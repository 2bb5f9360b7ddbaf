"""What operators rely on: the metrics directory, logs, worker timeout, control socket, signals."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import psutil
import pytest
import requests
from gunicorn.ctl.client import ControlClient
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_for_line
from tests.integration.conftest import wait_ready
from tests.integration.load import right_digits
from tests.integration.test_lifecycle import held_predict
from tests.integration.test_lifecycle import holder
from tests.integration.test_lifecycle import ready_workers
from tests.integration.test_lifecycle import started
from tests.integration.test_lifecycle import wait_until
from tests.integration.test_lifecycle import worker_pids
from tests.support import sample_value

pytestmark = pytest.mark.integration
# Writes a sample as an earlier server would have: 1000 /predict requests answered.
SEED = """
from prometheus_client import Counter
Counter("digitserve_http_requests_total", "HTTP requests answered.",
        ["endpoint", "method", "status"]).labels("/predict", "POST", "200").inc(1000)
"""


def scrape(server: Server) -> str:
    """Return the text of GET /metrics."""
    response = requests.get(f"{server.url}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


def metrics_dirs(tmp_dir: Path) -> list[Path]:
    """Return the metrics directories gunicorn.conf.py made under TMPDIR=tmp_dir."""
    return sorted(tmp_dir.glob("digitserve-metrics-*"))


def read_all(conn: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    data = b""
    with suppress(ConnectionResetError):
        while chunk := conn.recv(65536):
            data += chunk
    return data


def alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_metrics_directory_is_made_and_removed_at_exit(gunicorn: StartServer,
                                                       tmp_path: Path) -> None:
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    server = started(gunicorn, TMPDIR=str(tmp_dir))
    assert requests.get(f"{server.url}/livez", timeout=5).status_code == 200
    (metrics,) = metrics_dirs(tmp_dir)
    assert list(metrics.glob("*.db"))
    server.proc.terminate()
    assert server.proc.wait(timeout=35) == 0
    assert not metrics_dirs(tmp_dir), "the temporary metrics directory outlived the server"


def test_given_metrics_directory_is_emptied_at_start_and_kept(gunicorn: StartServer,
                                                              tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    subprocess.run([sys.executable, "-c", SEED], check=True, timeout=30,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    stale = list(metrics.glob("*.db"))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics))
    seeded = generate_latest(registry).decode()
    assert sample_value(seeded, "digitserve_http_requests_total", endpoint="/predict") == 1000

    server = started(gunicorn, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    assert stale and not any(path.exists() for path in stale)
    assert sample_value(scrape(server), "digitserve_http_requests_total",
                        endpoint="/predict") == 0
    server.proc.terminate()
    assert server.proc.wait(timeout=35) == 0
    assert metrics.is_dir()  # the operator's directory: emptied at start, never removed


def test_dead_workers_live_gauges_are_dropped(gunicorn: StartServer, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    server = started(gunicorn, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    body, _ = right_digits()[0]

    def in_flight() -> float:
        return sample_value(scrape(server), "digitserve_http_requests_in_flight")

    with held_predict(server, body.encode()) as conn:
        wait_until(lambda: holder(server, conn) is not None, 10, "a worker to accept")
        victim = holder(server, conn)
        assert victim is not None
        live_files = {f"gauge_livesum_{victim}.db", f"gauge_livemax_{victim}.db"}
        # The held request waits for its body in the app, and the scrape is in flight too.
        wait_until(lambda: in_flight() == 2, 10, "2 requests in flight")
        assert live_files <= {path.name for path in metrics.iterdir()}
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in worker_pids(server)
                   and len(ready_workers(server)) == 2, 30, "a replacement worker")
    assert not live_files & {path.name for path in metrics.iterdir()}
    text = scrape(server)
    assert sample_value(text, "digitserve_http_requests_in_flight") == 1  # this scrape
    assert sample_value(text, "digitserve_model_info") == 1


def test_json_logs_split_stderr_and_stdout_with_request_ids(gunicorn: StartServer) -> None:
    server = gunicorn(split_stderr=True, GUNICORN_LOG_FORMAT="json", GUNICORN_ACCESSLOG="-")
    wait_ready(server)
    ids = [f"split-{i}" for i in range(6)]
    for request_id in ids:
        response = requests.post(f"{server.url}/predict", json={"data": [0.0] * 784},
                                 headers={"X-Request-ID": request_id}, timeout=5)
        assert response.status_code == 200
    wait_for_line(server, '"request_id": "split-5"')
    errlog = server.errlog
    assert errlog is not None
    wait_until(lambda: errlog.read_text().count("loaded model") == 2, 30, "2 workers loaded")
    stdout = [json.loads(line) for line in server.log_text().splitlines()]
    stderr = [json.loads(line) for line in errlog.read_text().splitlines()]
    assert stdout and all(record["logger"] == "gunicorn.access" for record in stdout)
    assert set(ids) <= {record["request_id"] for record in stdout}
    assert all(re.fullmatch(r"[\w.:/+=-]+", record["request_id"]) for record in stdout)
    assert stderr and not any(record["logger"] == "gunicorn.access" for record in stderr)
    assert any(record["message"].startswith("Booting worker") for record in stderr)
    loaded = [record for record in stderr if "loaded model" in record["message"]]
    assert len(loaded) == 2 and all(record["request_id"] == "-" for record in loaded)


def test_silent_worker_is_killed_after_timeout(gunicorn: StartServer) -> None:
    timeout_s = 4
    server = started(gunicorn, GUNICORN_TIMEOUT=str(timeout_s))
    victim = min(worker_pids(server))
    stopped_at = time.monotonic()
    os.kill(victim, signal.SIGSTOP)  # silent: no heartbeat, no requests
    try:
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200  # the other
        wait_until(lambda: victim not in worker_pids(server), timeout_s + 10,
                   "the silent worker to be killed")
        killed_s = time.monotonic() - stopped_at
        wait_until(lambda: len(ready_workers(server)) == 2, 30, "a replacement worker")
    finally:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGCONT)
    print(f"\nGUNICORN_TIMEOUT={timeout_s}: stopped worker killed after {killed_s:.1f} s")
    log = server.log_text()
    assert f"WORKER TIMEOUT (pid:{victim})" in log
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    # Its last heartbeat was at most timeout/2 before the stop; the master checks each second.
    assert timeout_s / 2 <= killed_s <= timeout_s + 3
    wait_ready(server)


def test_control_socket_at_the_given_path(gunicorn: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "run" / "digitserve.ctl"  # Gunicorn makes the directory
    server = started(gunicorn, GUNICORN_CONTROL_SOCKET=str(path))
    wait_until(path.is_socket, 10, "the control socket")
    with ControlClient(str(path), timeout=5) as client:
        answer = client.send_command("show workers")
    assert {worker["pid"] for worker in answer["workers"]} == worker_pids(server)
    server.proc.terminate()
    assert server.proc.wait(timeout=35) == 0
    assert not path.exists()


def test_control_socket_can_be_disabled(gunicorn: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "digitserve.ctl"
    started(gunicorn, GUNICORN_CONTROL_SOCKET=str(path), GUNICORN_CONTROL_SOCKET_DISABLE="1")
    # By the time both workers are ready an enabled socket exists (the test above).
    assert not path.exists()


def test_usr1_reopens_the_log_files(gunicorn: StartServer, tmp_path: Path) -> None:
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    server = gunicorn(GUNICORN_ACCESSLOG=str(access), GUNICORN_ERRORLOG=str(error))
    wait_until(lambda: error.exists() and error.read_text().count(" ready: app imported") == 2,
               60, "2 workers ready")
    wait_ready(server)

    def get(request_id: str) -> None:
        assert requests.get(f"{server.url}/livez", headers={"X-Request-ID": request_id},
                            timeout=5).status_code == 200

    get("before-usr1")
    wait_until(lambda: "request_id=before-usr1" in access.read_text(), 5, "the access line")
    access.rename(tmp_path / "access.log.1")
    error.rename(tmp_path / "error.log.1")
    os.kill(server.proc.pid, signal.SIGUSR1)
    wait_until(lambda: access.exists() and error.exists(), 10, "new log files")
    # Each worker reopens its own files on the signal the master forwards.
    sent = itertools.count()

    def both_workers_write_the_new_file() -> bool:
        get(f"after-usr1-{next(sent)}")
        return len(set(re.findall(r"<(\d+)>", access.read_text()))) == 2

    wait_until(both_workers_write_the_new_file, 10, "both workers to reopen")
    for i in range(10):
        get(f"reopened-{i}")
    time.sleep(0.2)  # the access line is written after the response
    new, old = access.read_text(), (tmp_path / "access.log.1").read_text()
    assert all(f"request_id=reopened-{i}" in new for i in range(10)), new
    assert "reopened-" not in old and "request_id=before-usr1" in old
    # The master's error log too: it logged the signal in the old file, and logs the next
    # one in the new file.
    assert "Handling signal: usr1" in (tmp_path / "error.log.1").read_text()
    os.kill(server.proc.pid, signal.SIGTTIN)
    wait_until(lambda: "Handling signal: ttin" in error.read_text(), 10, "a line in error.log")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_int_and_quit_stop_at_once(gunicorn: StartServer, sig: signal.Signals) -> None:
    graceful_s = 20
    server = started(gunicorn, GUNICORN_GRACEFUL_TIMEOUT=str(graceful_s))
    workers = worker_pids(server)
    body, _ = right_digits()[0]
    with held_predict(server, body.encode()) as conn:
        wait_until(lambda: holder(server, conn) is not None, 10, "a worker to accept")
        sent_at = time.monotonic()
        os.kill(server.proc.pid, sig)
        code = server.proc.wait(timeout=graceful_s)
        stop_s = time.monotonic() - sent_at
        answer = read_all(conn)
    print(f"\n{sig.name}: master exited {code} after {stop_s:.2f} s; held request got "
          f"{answer[:12]!r}")
    assert code == 0
    assert stop_s < 5, "waited for the request in flight, as TERM does"
    # Not finished: the worker exits inside the app, and answers a JSON 500 as it goes.
    assert answer.startswith(b"HTTP/1.1 500 ") and b'"code":500' in answer
    wait_until(lambda: not any(alive(pid) for pid in workers), 5, "no worker left")
