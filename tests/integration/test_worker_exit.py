"""Workers forked from a master that imported the libraries: they share memory, and every way
a worker ends leaves no process behind, loses no log line and takes no longer than it must."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import psutil
import pytest
import requests

from app.web.memory import IDLE_S
from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.test_lifecycle import wait_until
from tests.integration.test_lifecycle import worker_pids
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

BODY = (REPO_ROOT / "examples" / "digit.json").read_bytes()
QUICK_S = 5.0  # a worker's exit, or the whole server's, must not wait for a timeout
FLOOR_PRIVATE_MB = 20.0  # issue 7: private memory per worker after 300 /predict


def post_many(server: Server, count: int) -> None:
    """Send count /predict requests, each answered 200."""
    with requests.Session() as session:
        for _ in range(count):
            reply = session.post(f"{server.url}/predict", data=BODY, timeout=10,
                                 headers={"Content-Type": "application/json"})
            assert reply.status_code == 200


def gone(pids: set[int]) -> bool:
    """Tell whether none of pids is a live process (zombies count as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def assert_exits_logged(server: Server, pids: set[int]) -> None:
    """Check the log has each worker's last line (written just before it ends itself)."""
    log = server.log_text()
    for pid in pids:
        assert f"Worker exiting (pid: {pid})" in log, log


def test_private_memory_per_worker_is_under_the_floor(gunicorn: StartServer) -> None:
    server = gunicorn()
    wait_ready(server)
    post_many(server, 300)
    private = [psutil.Process(pid).memory_full_info().uss / 2**20 for pid in worker_pids(server)]
    print(f"\nprivate MB per worker: {private}")
    assert len(private) == 2 and max(private) < FLOOR_PRIVATE_MB


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_worker_gives_a_large_batchs_memory_back_once_idle(gunicorn: StartServer,
                                                             threads: str) -> None:
    """Ten batches of 256 raise a worker's private memory; idle for a moment, it drops back.

    With 2 threads Gunicorn's sync worker class becomes gthread: digitserve's, which releases
    too, though each pool thread keeps some in its own glibc arena.
    """
    server = gunicorn(GUNICORN_WORKERS="1", GUNICORN_THREADS=threads)
    wait_ready(server)
    worker = "worker.SyncWorker" if threads == "1" else "thread_worker.ThreadWorker"
    assert f"Using worker: app.web.{worker}" in server.log_text()
    post_many(server, 300)
    (pid,) = worker_pids(server)
    before = psutil.Process(pid).memory_full_info().uss / 2**20
    batch = {"instances": np.round(np.random.default_rng(0).random((256, 784)), 4).tolist()}
    with requests.Session() as session:
        for _ in range(10):
            reply = session.post(f"{server.url}/predict/batch", json=batch, timeout=30)
            assert reply.status_code == 200
    peak = psutil.Process(pid).memory_full_info().uss / 2**20  # read before IDLE_S passes
    time.sleep(4 * IDLE_S)
    idle = psutil.Process(pid).memory_full_info().uss / 2**20
    print(f"\nworker private MB ({threads} thread(s)): {before:.1f} after 300 /predict, "
          f"{peak:.1f} after the batches, {idle:.1f} idle")
    # Kept, the batches' memory is about 25 MB more (glibc free lists, onnxruntime's arena).
    assert idle < peak - 8, (peak, idle)
    if threads == "1":  # gthread's pool threads keep part of it in their own glibc arenas
        assert idle < before + 8, (before, idle)


def test_term_ends_every_worker_quickly(gunicorn: StartServer) -> None:
    server = gunicorn()
    wait_ready(server)
    post_many(server, 20)
    pids = worker_pids(server)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=QUICK_S) == 0
    print(f"\nstopped in {time.monotonic() - started:.2f} s")
    assert gone(pids)
    assert_exits_logged(server, pids)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTTOU], ids=["HUP", "TTOU"])
def test_replaced_or_removed_workers_end(gunicorn: StartServer, sig: signal.Signals) -> None:
    server = gunicorn()
    wait_ready(server)
    pids = worker_pids(server)
    os.kill(server.proc.pid, sig)
    took = wait_until(lambda: gone(pids) if sig == signal.SIGHUP else len(gone_of(pids)) == 1,
                      QUICK_S, f"old workers to end after {sig.name}")
    print(f"\n{sig.name}: ended in {took:.2f} s")
    ended = pids if sig == signal.SIGHUP else gone_of(pids)
    wait_until(lambda: all(f"Worker exiting (pid: {pid})" in server.log_text()
                           for pid in ended), QUICK_S, "their last log lines")
    post_many(server, 4)


def gone_of(pids: set[int]) -> set[int]:
    """Return the pids that have ended."""
    return {pid for pid in pids if gone({pid})}


def test_recycled_workers_end(gunicorn: StartServer) -> None:
    server = gunicorn(GUNICORN_MAX_REQUESTS="10")
    wait_ready(server)
    pids = worker_pids(server)
    post_many(server, 60)  # every worker reaches 10 at least once
    wait_until(lambda: gone(pids), QUICK_S, "recycled workers to end")
    assert_exits_logged(server, pids)
    assert "Autorestarting worker after current request." in server.log_text()


def test_timed_out_worker_is_replaced_and_ends(gunicorn: StartServer) -> None:
    server = gunicorn(GUNICORN_TIMEOUT="2")
    wait_ready(server)
    stuck = min(worker_pids(server))
    os.kill(stuck, signal.SIGSTOP)  # silent: no heartbeat
    wait_until(lambda: gone({stuck}), 15, "the silent worker to be killed")
    wait_until(lambda: len(worker_pids(server)) == 2, QUICK_S, "a replacement")
    post_many(server, 4)
