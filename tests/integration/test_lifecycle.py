"""Signals and recycling under steady load, against a real Gunicorn: nothing may be dropped."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.load import UNSERVED
from tests.integration.load import LoadClient
from tests.integration.load import count
from tests.integration.load import failures
from tests.integration.load import right_digits
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

SENT_FIRST = 100  # bytes of the held request's body sent before the signal


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "",
               poll_s: float = 0.05) -> float:
    """Poll condition until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(poll_s)
    return time.monotonic() - started


def worker_pids(server: Server) -> set[int]:
    """Return the pids of the master's live worker processes."""
    pids = set()
    for child in psutil.Process(server.proc.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def health_pid(server: Server) -> int:
    """Ask /health once; check the worker that answers runs its own session; return its pid."""
    response = requests.get(f"{server.url}/health", timeout=10)
    body = response.json()
    assert response.status_code == 200, body
    assert body["pid"] == body["session_pid"], body
    return int(body["pid"])


def wait_for_answers(server: Server, pids: set[int], timeout_s: float = 30.0) -> None:
    """Poll /health until each worker in pids has answered it (which worker answers is luck)."""
    seen: set[int] = set()

    def all_answered() -> bool:
        seen.add(health_pid(server))
        return pids <= seen

    wait_until(all_answered, timeout_s, f"/health answers from workers {sorted(pids)}")


def served_pids(log: str) -> Counter[int]:
    """Count the access-log lines of each worker pid (the format has %(p)s, "<pid>")."""
    return Counter(int(pid) for pid in re.findall(r'ms <(\d+)> "', log))


def assert_loaded_before_serving(log: str, pid: int) -> None:
    """Check the worker logged loading its own model before its first access-log line."""
    lines = log.splitlines()
    loaded = [n for n, line in enumerate(lines) if f"pid {pid} loaded model" in line]
    served = [n for n, line in enumerate(lines) if f"ms <{pid}> " in line]
    assert loaded, f"worker {pid} never logged loading the model"
    assert served, f"worker {pid} never served a request"
    assert loaded[0] < served[0], f"worker {pid} served before it loaded the model"


def ready_workers(server: Server) -> set[int]:
    """Return the pids of the live workers that have logged being ready (post_worker_init)."""
    logged = {int(pid) for pid in re.findall(r"worker (\d+) ready: ", server.log_text())}
    return logged & worker_pids(server)


def started(start: StartServer, **env: str) -> Server:
    """Start gunicorn with 2 workers (plus env) and wait until both are ready."""
    server = start(**env)
    # Booted workers first: wait_ready gives up on a /readyz that waits over 1 s in the listen
    # queue, which happens while workers still load on a busy 2-core machine.
    wait_until(lambda: len(ready_workers(server)) == 2 or server.proc.poll() is not None, 60,
               "2 workers ready")
    wait_ready(server)
    return server


@contextmanager
def held_predict(server: Server, body: bytes) -> Iterator[socket.socket]:
    """Open a /predict request with all its headers but only part of its body; close it after."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=15) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: digitserve\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:SENT_FIRST])
        yield conn


def clients_of(pid: int) -> set[tuple[str, int]]:
    """Return the client ends of the connections a worker has accepted and not yet closed."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    return {(c.raddr.ip, c.raddr.port) for c in connections
            if c.raddr and c.status == psutil.CONN_ESTABLISHED}


def count_sockets(pid: int) -> int:
    """Count a process's open sockets, cheaply (psutil's net_connections takes ~50 ms)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    sockets = 0
    with suppress(FileNotFoundError):
        for fd in os.listdir(fd_dir):
            with suppress(FileNotFoundError):
                sockets += os.readlink(fd_dir / fd).startswith("socket:")
    return sockets


def holder(server: Server, conn: socket.socket) -> int | None:
    """Return the pid of the worker that has accepted conn, if one has."""
    return next((pid for pid in worker_pids(server) if conn.getsockname() in clients_of(pid)),
                None)


def read_response(conn: socket.socket) -> tuple[int | None, Any]:
    """Read until the server closes; return the status and JSON body (None, None if none)."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    if not data:
        return None, None
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


def test_sighup_reload_drops_nothing(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for_more(50)
        hup_at = time.monotonic()
        os.kill(server.proc.pid, signal.SIGHUP)
        wait_until(lambda: len(worker_pids(server)) == 2 and not worker_pids(server) & old,
                   what="the old workers to be replaced")
        new = worker_pids(server)
        wait_for_answers(server, new)
        reloaded_at = time.monotonic()
        load.wait_for_more(100)
    outcomes = load.outcomes
    overlapping = [o for o in outcomes if o.started < reloaded_at and o.ended > hup_at]
    slowest = max(o.ended - o.started for o in overlapping)
    print(f"\nSIGHUP: new workers answering after {reloaded_at - hup_at:.2f} s; "
          f"{len(overlapping)} requests overlapped the reload, slowest {slowest:.2f} s; "
          f"{count(outcomes)}")
    assert not failures(outcomes), count(outcomes)
    assert len(overlapping) >= 2
    log = server.log_text()
    for pid in new:
        assert_loaded_before_serving(log, pid)


def same_model_new_bytes(model: bytes) -> bytes:
    """Return model with a different doc_string: the same network, another sha256.

    ONNX files are protocol buffers, where a field written again replaces the earlier value:
    appending ModelProto field 6 (doc_string, length-delimited) keeps the model valid.
    """
    note = b"the same network, saved again"
    return model + bytes([6 << 3 | 2, len(note)]) + note


def test_sighup_loads_the_model_file_afresh(gunicorn: StartServer, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes((REPO_ROOT / "model.onnx").read_bytes())
    server = started(gunicorn, DIGITSERVE_MODEL_PATH=str(model))
    before = requests.get(f"{server.url}/model", timeout=10).json()["sha256"]
    staged = tmp_path / "model.onnx.new"
    staged.write_bytes(same_model_new_bytes(model.read_bytes()))
    staged.replace(model)  # atomic, as a deployment would swap it
    old = worker_pids(server)
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_until(lambda: len(worker_pids(server)) == 2 and not worker_pids(server) & old,
               what="the old workers to be replaced")
    wait_for_answers(server, worker_pids(server))
    answers = {requests.get(f"{server.url}/model", timeout=10).json()["sha256"]
               for _ in range(20)}
    assert answers == {hashlib.sha256(model.read_bytes()).hexdigest()} != {before}


def test_sigterm_finishes_in_flight_then_exits_0(gunicorn: StartServer) -> None:
    graceful_s = 10
    server = started(gunicorn, GUNICORN_GRACEFUL_TIMEOUT=str(graceful_s))
    body, label = right_digits()[0]
    payload = body.encode()
    with LoadClient(server.url) as load:
        load.wait_for_more(30)
        with held_predict(server, payload) as conn:
            wait_until(lambda: holder(server, conn) is not None, 10, "a worker to accept")
            worker = psutil.Process(holder(server, conn))
            term_at = time.monotonic()
            os.kill(server.proc.pid, signal.SIGTERM)
            wait_until(lambda: "Handling signal: term" in server.log_text(), 10, "SIGTERM handled")
            time.sleep(1.0)  # the scenario: the request stays in flight a while after the signal
            assert worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE
            conn.sendall(payload[SENT_FIRST:])
            status, answer = read_response(conn)
        # Closed: Gunicorn lingers up to 2 s after a response until the client closes.
        code = server.proc.wait(timeout=graceful_s + 5)
        shutdown_s = time.monotonic() - term_at
    outcomes = load.outcomes
    answered = [o for o in outcomes if o.status is not None]
    unserved = [o for o in outcomes if o.error is not None]
    print(f"\nSIGTERM: held request answered {status}; master exited {code} after "
          f"{shutdown_s:.2f} s (graceful timeout {graceful_s} s); load: {count(outcomes)}")
    assert status == 200 and answer["prediction"] == label, answer
    assert code == 0
    log = server.log_text()
    # The master waits for its workers up to the graceful timeout, then kills them.
    assert shutdown_s < graceful_s, "the workers did not exit by themselves"
    assert "Shutting down: Master" in log
    # Every request that got an answer got a right one; the rest were refused or reset once
    # the listener closed, without reaching a worker, and only after the signal.
    assert all(o.ok for o in answered), count(answered)
    assert {o.error for o in unserved} <= UNSERVED, count(unserved)
    assert all(o.ended >= term_at for o in unserved)


def test_sigterm_cuts_a_request_held_past_graceful_timeout(gunicorn: StartServer) -> None:
    graceful_s = 2
    server = started(gunicorn, GUNICORN_GRACEFUL_TIMEOUT=str(graceful_s))
    body, _ = right_digits()[0]
    with held_predict(server, body.encode()) as conn:
        wait_until(lambda: holder(server, conn) is not None, 10, "a worker to accept")
        term_at = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)
        code = server.proc.wait(timeout=graceful_s + 10)
        shutdown_s = time.monotonic() - term_at
        status, _ = read_response(conn)
    print(f"\nSIGTERM past graceful timeout: master exited {code} after {shutdown_s:.2f} s "
          f"(graceful timeout {graceful_s} s); held request got {status}")
    assert code == 0
    assert shutdown_s >= graceful_s
    assert status is None


def test_sigkill_of_a_worker_loses_at_most_its_request(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    victim = min(old)
    with LoadClient(server.url) as load:
        load.wait_for_more(50)
        # Kill it while it serves a request (its listener plus a connection), so that one is
        # in flight, though it may finish before the signal lands.
        wait_until(lambda: count_sockets(victim) >= 2, 10, "the victim to serve a request",
                   poll_s=0.001)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(worker_pids(server) - old) == 1, what="a replacement worker")
        (replacement,) = worker_pids(server) - old
        wait_for_answers(server, {replacement})
        recovery_s = time.monotonic() - killed_at
        load.wait_for_more(100)
    outcomes = load.outcomes
    lost = failures(outcomes)
    print(f"\nSIGKILL: replacement answering /health {recovery_s:.2f} s after the kill; "
          f"lost {len(lost)} {count(lost)} of {len(outcomes)}")
    # A sync worker has at most one accepted connection; the rest wait in the listen queue,
    # which belongs to the socket, not to the worker, and the other worker serves them.
    assert len(lost) <= 1, count(outcomes)
    assert all(o.started < killed_at < o.ended for o in lost), "lost a request not in flight"
    log = server.log_text()
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    assert_loaded_before_serving(log, replacement)


def test_max_requests_recycling_drops_nothing(gunicorn: StartServer) -> None:
    limit, jitter = 50, 20
    server = started(gunicorn, GUNICORN_MAX_REQUESTS=str(limit),
                     GUNICORN_MAX_REQUESTS_JITTER=str(jitter))
    first = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for_more(400, timeout_s=60)
    outcomes = load.outcomes
    # A worker logs "Autorestarting" before its last response and the access line after it:
    # wait for the recycled workers to exit before counting their access lines.
    recycled = [int(pid) for pid in re.findall(r"\[(\d+)\] \[INFO\] Autorestarting worker",
                                               server.log_text())]
    wait_until(lambda: not worker_pids(server) & set(recycled), what="recycled workers to exit")
    log = server.log_text()
    served = served_pids(log)
    print(f"\nmax_requests={limit} jitter={jitter}: {len(recycled)} workers recycled after "
          f"{sorted(served[pid] for pid in recycled)} requests; {count(outcomes)}")
    assert not failures(outcomes), count(outcomes)
    # The two workers alive at the end served under limit + jitter requests each, so at least
    # 400 - 2 * 69 were served by recycled workers, at most 70 each: 4 or more recycled.
    assert len(recycled) >= 4
    assert all(limit <= served[pid] <= limit + jitter for pid in recycled), served
    assert worker_pids(server) != first
    for pid in served:
        assert_loaded_before_serving(log, pid)


def test_ttin_and_ttou_change_the_worker_count(gunicorn: StartServer) -> None:
    server = started(gunicorn)
    old = worker_pids(server)
    with LoadClient(server.url) as load:
        load.wait_for_more(30)
        os.kill(server.proc.pid, signal.SIGTTIN)
        wait_until(lambda: len(worker_pids(server)) == 3, what="3 workers")
        (added,) = worker_pids(server) - old
        wait_for_answers(server, {added})
        load.wait_for_more(50)
        os.kill(server.proc.pid, signal.SIGTTOU)
        wait_until(lambda: len(worker_pids(server)) == 2, what="2 workers again")
        load.wait_for_more(100)
    outcomes = load.outcomes
    print(f"\nTTIN/TTOU: {count(outcomes)}")
    assert not failures(outcomes), count(outcomes)
    log = server.log_text()
    assert_loaded_before_serving(log, added)
    assert "was sent SIGKILL" not in log
