"""Model updates under load: a bad file never stops a serving server, a good one is served.

A real Gunicorn (2 workers) serves a copy of the model from a temporary directory while a
background client sends real digits to /predict. Every failed request is counted.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import models
from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.load import LoadClient
from tests.integration.load import count
from tests.integration.load import failures
from tests.integration.test_lifecycle import started
from tests.integration.test_lifecycle import wait_for_answers
from tests.integration.test_lifecycle import wait_until
from tests.integration.test_lifecycle import worker_pids
from tests.support import sample_value

pytestmark = pytest.mark.integration

GOOD_SHA = hashlib.sha256(models.real()).hexdigest()


def serve_copy(gunicorn: StartServer, directory: Path, **env: str) -> tuple[Server, Path]:
    """Start Gunicorn on a copy of the real model in directory; return it and the file."""
    model = directory / "model.onnx"
    model.write_bytes(models.real())
    return started(gunicorn, DIGITSERVE_MODEL_PATH=str(model), **env), model


def install(model: Path, content: bytes | None) -> None:
    """Put content at model the safe way (beside it, then a rename); None removes the file."""
    if content is None:
        model.unlink(missing_ok=True)
        return
    staged = model.with_name(model.name + ".new")
    staged.write_bytes(content)
    staged.replace(model)


def hup(server: Server) -> set[int]:
    """Send HUP; wait until the old workers are all replaced and the new ones answer."""
    old = worker_pids(server)
    reloads = server.log_text().count("Hang up: Master")
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_until(lambda: server.log_text().count("Hang up: Master") > reloads, 10, "the HUP")
    wait_until(lambda: len(worker_pids(server)) == 2 and not worker_pids(server) & old, 30,
               "the old workers to be replaced")
    new = worker_pids(server)
    wait_for_answers(server, new)
    return new


def models_served(server: Server, pids: set[int]) -> dict[int, dict[str, Any]]:
    """Ask /model until every worker in pids has answered; return each one's answer."""
    seen: dict[int, dict[str, Any]] = {}

    def all_answered() -> bool:
        body = requests.get(f"{server.url}/model", timeout=10).json()
        seen[body["pid"]] = body
        return pids <= set(seen)

    wait_until(all_answered, 30, f"/model answers from workers {sorted(pids)}")
    return {pid: seen[pid] for pid in pids}


def answers_from_workers(server: Server, how_many: int) -> dict[int, dict[str, Any]]:
    """Ask /model until that many different workers have answered, whichever they are."""
    seen: dict[int, dict[str, Any]] = {}

    def enough() -> bool:
        body = requests.get(f"{server.url}/model", timeout=10).json()
        seen[body["pid"]] = body
        return len(seen) >= how_many

    wait_until(enough, 30, f"/model answers from {how_many} workers")
    return seen


def metric(server: Server, name: str, **labels: str) -> float:
    """Read one metric (summed over the label values not given) from /metrics."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return sample_value(text, name, **labels)


def refusal_lines(server: Server) -> list[str]:
    """Return the master's "reload refused" log lines."""
    return [line for line in server.log_text().splitlines() if "reload refused: " in line]


def test_no_bad_model_file_stops_a_serving_server(gunicorn: StartServer, tmp_path: Path) -> None:
    server, model = serve_copy(gunicorn, tmp_path)
    kinds = [*models.REFUSED, "being copied"]
    with LoadClient(server.url) as load:
        load.wait_for_more(20)
        for n, kind in enumerate(kinds, start=1):
            if kind == "being copied":  # a writer still at work when HUP arrives
                with model.open("wb") as writing:
                    writing.write(models.real()[:30_000])
                    writing.flush()
                    pids = hup(server)
                    writing.write(models.real()[30_000:60_000])
            else:
                install(model, models.broken(kind))
                pids = hup(server)
            assert len(refusal_lines(server)) == n, server.log_text()
            line = refusal_lines(server)[-1]
            assert str(model) in line and "still serving digitserve-mnist-cnn" in line, line
            if kind in models.REFUSED:
                assert models.REFUSED[kind] in line, line
            assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
            answers = models_served(server, pids)
            assert {a["sha256"] for a in answers.values()} == {GOOD_SHA}, (kind, answers)
            reloads = next(iter(answers.values()))["reloads"]
            assert reloads["refused"] == n and reloads["accepted"] == 0, reloads
            assert reloads["last_refusal"]["path"] == str(model), reloads
            load.wait_for_more(20)
        refused = metric(server, "digitserve_model_reloads_total", result="refused")
    print(f"\n{len(kinds)} refused reloads under load: {count(load.outcomes)}")
    assert server.proc.poll() is None
    assert refused == len(kinds)
    assert not failures(load.outcomes), count(load.outcomes)
    assert "Traceback" not in server.log_text()


def test_a_worker_replaced_while_a_bad_file_is_on_disk_serves_the_last_good(
        gunicorn: StartServer, tmp_path: Path) -> None:
    # Recycled every 20 to 30 requests, killed, timed out: every replacement boots from the copy.
    server, model = serve_copy(gunicorn, tmp_path, GUNICORN_MAX_REQUESTS="20",
                               GUNICORN_MAX_REQUESTS_JITTER="10")
    first = worker_pids(server)
    install(model, models.broken("truncated"))
    with LoadClient(server.url) as load:
        load.wait_for_more(150)
        victim = min(worker_pids(server))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in worker_pids(server) and len(worker_pids(server)) == 2,
                   10, "the killed worker to be replaced")
        load.wait_for_more(100)
    booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log_text())}
    # Workers still recycle every 20 to 30 requests, /model's included: ask whoever serves now.
    answers = answers_from_workers(server, 2)
    print(f"\n{len(booted - first)} workers replaced with a truncated model on disk: "
          f"{count(load.outcomes)}")
    assert server.proc.poll() is None
    assert len(booted - first) >= 6  # recycled several times, and the killed one
    assert {a["sha256"] for a in answers.values()} == {GOOD_SHA}
    # The killed worker may have held one request; recycling drops none.
    assert len(failures(load.outcomes)) <= 1, count(load.outcomes)


def test_a_good_model_on_hup_is_served_by_every_worker(gunicorn: StartServer,
                                                      tmp_path: Path) -> None:
    server, model = serve_copy(gunicorn, tmp_path)
    new = models.renamed("2.0.1-reload-test")
    new_sha = hashlib.sha256(new).hexdigest()
    with LoadClient(server.url) as load:
        load.wait_for_more(20)
        install(model, new)
        hup_at = time.monotonic()
        pids = hup(server)
        answers = models_served(server, pids)
        served_after = time.monotonic() - hup_at
        load.wait_for_more(50)
        # Rolling back is the same move: the old file renamed into place, then HUP.
        install(model, models.real())
        back = models_served(server, hup(server))
    print(f"\ngood model on HUP: every worker serving it {served_after:.2f} s after the "
          f"signal; {count(load.outcomes)}")
    assert {a["sha256"] for a in answers.values()} == {new_sha}
    assert {a["version"] for a in answers.values()} == {"2.0.1-reload-test"}
    assert {a["reloads"]["accepted"] for a in answers.values()} == {1}
    assert {a["sha256"] for a in back.values()} == {GOOD_SHA}
    assert served_after < 10
    assert not failures(load.outcomes), count(load.outcomes)
    health = {requests.get(f"{server.url}/health", timeout=10).json()["model"]["sha256"]
              for _ in range(10)}
    assert health == {GOOD_SHA}
    # The gauge is the max over live workers: 1 for the model served, gone for the one before.
    assert metric(server, "digitserve_model_info", sha256=GOOD_SHA) == 1
    assert metric(server, "digitserve_model_info", sha256=new_sha) == 0
    assert metric(server, "digitserve_model_reloads_total", result="accepted") == 2


def test_the_same_file_again_is_a_reload_of_nothing(gunicorn: StartServer,
                                                    tmp_path: Path) -> None:
    server, model = serve_copy(gunicorn, tmp_path)
    pids = hup(server)
    answers = models_served(server, pids)
    assert {a["reloads"]["unchanged"] for a in answers.values()} == {1}
    assert "reload: model " + str(model) + " unchanged" in server.log_text()


def test_a_model_copy_removed_from_under_the_master_is_written_again(
        gunicorn: StartServer, tmp_path: Path) -> None:
    server, _ = serve_copy(gunicorn, tmp_path)
    victim = min(worker_pids(server))
    copy = Path(models_served(server, {victim})[victim]["loaded_from"])
    copy.unlink()  # a /tmp cleaner, say
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in worker_pids(server) and len(worker_pids(server)) == 2,
               10, "the killed worker to be replaced")
    answers = models_served(server, worker_pids(server))
    assert {a["sha256"] for a in answers.values()} == {GOOD_SHA}
    assert copy.read_bytes() == models.real()
    assert "was missing or changed: rewritten" in server.log_text()

