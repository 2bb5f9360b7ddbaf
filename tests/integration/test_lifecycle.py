"""Signals and recycling under steady load, against a real Gunicorn: nothing may be dropped."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.load import LoadClient
from tests.support import load_heldout

pytestmark = pytest.mark.integration


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> float:
    """Poll condition until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(0.05)
    return time.monotonic() - started


def worker_pids(server: Server) -> set[int]:
    """Return the pids of the master's live worker processes."""
    return {child.pid for child in psutil.Process(server.proc.pid).children()
            if child.status() != psutil.STATUS_ZOMBIE}


def health_pids(server: Server, tries: int = 60) -> set[int]:
    """Ask /health repeatedly; return the pids of workers whose session is their own."""
    pids = set()
    for _ in range(tries):
        body = requests.get(f"{server.url}/health", timeout=5).json()
        assert body["pid"] == body["session_pid"], body
        pids.add(body["pid"])
    return pids


def started(start: StartServer, **env: str) -> Server:
    """Start gunicorn with 2 workers (plus env) and wait until it is ready."""
    server = start(**env)
    wait_ready(server)
    wait_until(lambda: len(worker_pids(server)) == 2, what="2 workers")
    return server


def test_sighup_reload_drops_nothing(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for(50)
        os.kill(server.proc.pid, signal.SIGHUP)
        took = wait_until(lambda: len(worker_pids(server) - old) == 2
                          and not worker_pids(server) & old, what="new workers")
        done = load.outcomes.ok
        load.wait_for(done + 100)
    new = worker_pids(server)
    print(f"\nSIGHUP: workers replaced in {took:.2f} s; {load.outcomes}")
    assert load.outcomes.failed == 0 and load.outcomes.refused == 0, load.outcomes
    assert health_pids(server) <= new
    for pid in new:
        assert f"pid {pid} loaded model" in server.log_text()


def test_sigterm_finishes_in_flight_then_exits_0(gunicorn: StartServer) -> None:
    server = started(gunicorn, GUNICORN_GRACEFUL_TIMEOUT="10")
    images, labels = load_heldout()
    body = json.dumps({"data": images[0].tolist()}).encode()
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
        time.sleep(0.5)  # a worker has accepted the connection and waits for the body
        os.kill(server.proc.pid, signal.SIGTERM)
        time.sleep(1.0)
        conn.sendall(body[100:])
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:200]
    assert json.loads(payload)["prediction"] == labels[0]
    assert server.proc.wait(timeout=15) == 0
    assert "Shutting down: Master" in server.log_text()


def test_sigkill_of_a_worker_loses_at_most_its_request(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    victim = min(old)
    with LoadClient(server.url) as load:
        load.wait_for(50)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(worker_pids(server) - old) == 1, what="a replacement worker")
        (replacement,) = worker_pids(server) - old
        wait_until(lambda: replacement in health_pids(server, tries=4), what="the new worker")
        recovery = time.monotonic() - killed_at
        done = load.outcomes.ok
        load.wait_for(done + 100)
    print(f"\nSIGKILL: recovered in {recovery:.2f} s; {load.outcomes}")
    # A sync worker holds one request at a time: at most that one is lost. Connections still
    # in the listen backlog belong to no worker and are served by the others.
    assert load.outcomes.failed <= 1, load.outcomes
    assert f"pid {replacement} loaded model" in server.log_text()


def test_max_requests_recycling_drops_nothing(gunicorn: StartServer) -> None:
    server = started(gunicorn, GUNICORN_MAX_REQUESTS="50", GUNICORN_MAX_REQUESTS_JITTER="20")
    first = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for(400, timeout_s=40)
    print(f"\nmax_requests: {load.outcomes}")
    assert load.outcomes.failed == 0 and load.outcomes.refused == 0, load.outcomes
    assert server.log_text().count("Autorestarting worker") >= 4
    assert not worker_pids(server) & first


def test_ttin_and_ttou_change_the_worker_count(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for(30)
        os.kill(server.proc.pid, signal.SIGTTIN)
        wait_until(lambda: len(worker_pids(server)) == 3, what="3 workers")
        (added,) = worker_pids(server) - old
        wait_until(lambda: added in health_pids(server, tries=6), what="the added worker")
        os.kill(server.proc.pid, signal.SIGTTOU)
        wait_until(lambda: len(worker_pids(server)) == 2, what="2 workers again")
        done = load.outcomes.ok
        load.wait_for(done + 100)
    print(f"\nTTIN/TTOU: {load.outcomes}")
    assert load.outcomes.failed == 0 and load.outcomes.refused == 0, load.outcomes
    assert f"pid {added} loaded model" in server.log_text()
