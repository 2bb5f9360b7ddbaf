"""The server's own files under stress: metrics stay bounded and exact, logs never block.

A real Gunicorn, real requests. The metrics directory is recycled through, removed and made
unusable under load; the logs go to a pipe nobody reads, to a full device, and to a file whose
directory disappears before SIGUSR1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.load import LoadClient
from tests.integration.load import count
from tests.integration.load import failures
from tests.integration.test_lifecycle import started
from tests.integration.test_lifecycle import wait_until
from tests.integration.test_lifecycle import worker_pids
from tests.support import sample_value

pytestmark = pytest.mark.integration
REQUESTS = "digitserve_http_requests_total"


def predict_count(server: Server) -> float:
    """Read how many /predict requests the metrics count."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return sample_value(text, REQUESTS, endpoint="/predict")


def kill_one_worker(server: Server) -> None:
    """SIGKILL the oldest worker and wait for its replacement."""
    victim = min(worker_pids(server))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in worker_pids(server) and len(worker_pids(server)) == 2, 15,
               "the killed worker to be replaced")


def test_recycled_workers_leave_a_bounded_directory_and_exact_counts(
        gunicorn: StartServer, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    server = started(gunicorn, PROMETHEUS_MULTIPROC_DIR=str(metrics),
                     GUNICORN_MAX_REQUESTS="10", GUNICORN_ACCESSLOG="")
    seen: list[float] = []
    stop = threading.Event()

    def scrape() -> None:  # counts read while workers die and are folded in
        while not stop.is_set():
            seen.append(predict_count(server))

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    with LoadClient(server.url) as load:
        load.wait_for_more(650, timeout_s=120)
    stop.set()
    scraper.join(timeout=15)
    sent = len(load.outcomes)
    booted = server.log_text().count("Booting worker")
    files = sorted(path.name for path in metrics.iterdir())
    print(f"\n{sent} requests, {booted} workers booted: {len(files)} files left; "
          f"{len(seen)} scrapes during the run, {count(load.outcomes)}")
    assert not failures(load.outcomes), count(load.outcomes)
    assert booted >= 50
    # The live workers' files (4 each), the master's counter, one archive of each type.
    assert len(files) <= 2 * 4 + 1 + 2, files
    assert predict_count(server) == sent
    assert seen == sorted(seen), "a counter went down during a scrape"
    assert all(value <= sent for value in seen)


def test_a_removed_metrics_directory_is_made_again(gunicorn: StartServer,
                                                   tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    server = started(gunicorn, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with LoadClient(server.url) as load:
        load.wait_for_more(50)
        shutil.rmtree(metrics)
        load.wait_for_more(50)
        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 200
        kill_one_worker(server)
        load.wait_for_more(100)
    assert metrics.is_dir() and list(metrics.glob("*.db"))
    assert predict_count(server) > 0  # the replacement's requests, at least
    assert "was gone: made again" in server.log_text()
    assert server.proc.poll() is None
    assert len(failures(load.outcomes)) <= 1, count(load.outcomes)  # the killed one's


def test_an_unusable_metrics_directory_turns_metrics_off_not_the_server(
        gunicorn: StartServer, tmp_path: Path) -> None:
    # Root may write anywhere, so "cannot write" is a file where the directory was.
    metrics = tmp_path / "metrics"
    server = started(gunicorn, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with LoadClient(server.url) as load:
        load.wait_for_more(50)
        shutil.rmtree(metrics)
        metrics.write_text("not a directory")
        kill_one_worker(server)  # its replacement cannot make its sample files
        load.wait_for_more(100)
        scrape = requests.get(f"{server.url}/metrics", timeout=10)
        os.kill(server.proc.pid, signal.SIGHUP)  # every hook touching the files, again
        load.wait_for_more(100)
    assert scrape.status_code == 503 and scrape.json()["code"] == 503, scrape.text
    assert "stops recording them and keeps serving" in server.log_text()
    assert server.proc.poll() is None
    assert len(failures(load.outcomes)) <= 1, count(load.outcomes)


def test_a_log_pipe_nobody_reads_drops_lines_instead_of_blocking(
        gunicorn: StartServer, tmp_path: Path) -> None:
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    server = started(gunicorn, GUNICORN_ACCESSLOG=str(fifo))
    with LoadClient(server.url) as load:
        # The pipe holds 64 KiB, about 500 lines: then every write would block.
        load.wait_for_more(1500, timeout_s=120)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    dropped = sample_value(text, "digitserve_log_lines_dropped_total", log="access")
    print(f"\naccess log into a pipe nobody reads: {count(load.outcomes)}, {dropped:.0f} lines "
          f"dropped")
    assert not failures(load.outcomes), count(load.outcomes)
    assert dropped >= 500


def test_a_full_log_device_costs_no_traceback(gunicorn: StartServer) -> None:
    server = gunicorn(split_stderr=True, GUNICORN_ACCESSLOG="/dev/full")
    wait_ready(server)
    with LoadClient(server.url) as load:
        load.wait_for_more(200)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert not failures(load.outcomes), count(load.outcomes)
    assert sample_value(text, "digitserve_log_lines_dropped_total", log="access") >= 200
    assert server.errlog is not None
    assert "Traceback" not in server.errlog.read_text() + server.log_text()


def test_usr1_with_an_unwritable_log_path_keeps_the_old_file(gunicorn: StartServer,
                                                             tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    server = gunicorn(GUNICORN_ERRORLOG=str(logs / "error.log"),
                      GUNICORN_ACCESSLOG=str(logs / "access.log"))
    wait_ready(server)
    rotated = tmp_path / "rotated"
    logs.rename(rotated)  # log rotation moved the files, and nothing is there any more
    with LoadClient(server.url) as load:
        load.wait_for_more(20)
        os.kill(server.proc.pid, signal.SIGUSR1)
        wait_until(lambda: "cannot reopen log file" in (rotated / "error.log").read_text(), 10,
                   "the failed reopen to be logged")
        load.wait_for_more(50)
        time.sleep(0.2)
    assert server.proc.poll() is None
    assert not failures(load.outcomes), count(load.outcomes)
    assert "Unhandled exception" not in (rotated / "error.log").read_text()
    assert (rotated / "access.log").read_text().count("POST /predict") >= 70


def read_all(server: Server, request: bytes, timeout_s: float = 15) -> bytes:
    """Send raw bytes; return the whole answer (the server closes the connection)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout_s) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def split_answer(answer: bytes) -> tuple[int, dict[str, str], Any]:
    """Return an HTTP answer's status, headers (lower-case names) and JSON body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /livez HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(120))
     + b"\r\n", 431),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCD /livez HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /liv\xe9z HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
])
def test_requests_the_worker_refuses_are_json_with_an_id_and_counted(
        live_server: Server, request_bytes: bytes, status: int) -> None:
    before = sample_value(requests.get(f"{live_server.url}/metrics", timeout=10).text, REQUESTS,
                          endpoint="<refused>", status=str(status))
    code, headers, body = split_answer(read_all(live_server, request_bytes))
    assert (code, body["code"]) == (status, status), body
    assert headers["content-type"] == "application/json"
    assert body["message"].startswith("The server refused the request before reading it")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    after = sample_value(requests.get(f"{live_server.url}/metrics", timeout=10).text, REQUESTS,
                         endpoint="<refused>", status=str(status))
    assert after == before + 1


def test_a_request_past_the_worker_timeout_gets_json_and_is_counted(
        gunicorn: StartServer) -> None:
    server = gunicorn(GUNICORN_TIMEOUT="2", GUNICORN_WORKERS="1")
    wait_ready(server)
    # A client that sends half its body and waits: the worker waits with it, past the timeout.
    began = time.monotonic()
    answer = read_all(server, b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Request-ID: slow-1\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                              b'{"data": [')
    waited = time.monotonic() - began
    status, headers, body = split_answer(answer)
    assert (status, body["code"]) == (408, 408), body
    assert "worker timeout (2 s, GUNICORN_TIMEOUT)" in body["message"]
    # The last heartbeat was at most a tenth of the timeout before the request came in.
    assert headers["x-request-id"] == "slow-1" and 1.8 <= waited < 10
    wait_ready(server)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert sample_value(text, REQUESTS, endpoint="/predict", status="408") == 1
    line = next(line for line in server.log_text().splitlines() if "request_id=slow-1" in line)
    assert '"POST /predict HTTP/1.1" 408' in line
    assert int(re.search(r" (\d+)ms ", line)[1]) >= 1500  # type: ignore[index]
    assert "WORKER TIMEOUT" in server.log_text() and "Traceback" not in server.log_text()


def test_idle_workers_outlive_a_one_second_timeout(gunicorn: StartServer) -> None:
    """With GUNICORN_TIMEOUT=1 an idle worker still beats often enough not to be killed."""
    server = started(gunicorn, GUNICORN_TIMEOUT="1")
    before = worker_pids(server)
    assert len(before) == 2
    time.sleep(8)  # a heartbeat a second, as before, was killed here in one run of three
    wait_ready(server)
    assert "WORKER TIMEOUT" not in server.log_text()
    assert worker_pids(server) == before
