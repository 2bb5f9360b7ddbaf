"""A worker's memory after refused bodies: back near its idle level once it idles.

One sync worker gets 4 MiB JSON bodies that fail (each parses to about 100 MB of small
objects), then idles; its private memory (USS) must come back within SLACK_MB of where it was.
"""

from __future__ import annotations

import time

import psutil
import pytest
import requests

from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration
SLACK_MB = 15
JSON = {"Content-Type": "application/json"}


def test_refused_bodies_leave_the_worker_near_idle(gunicorn: StartServer) -> None:
    server = gunicorn(GUNICORN_WORKERS="1")
    wait_ready(server)
    (worker,) = psutil.Process(server.proc.pid).children()
    url = f"{server.url}/predict/batch"
    assert requests.post(url, data=b'{"instances": [{}]}', headers=JSON, timeout=10
                         ).status_code == 422  # the refusal's code paths, once
    time.sleep(0.5)
    idle = worker.memory_full_info().uss / 2**20
    over_batch = b'{"instances": [' + b"{}," * (((4 << 20) - 40) // 3) + b"{}]}"
    not_json = b'{"instances": [' + b"[0.5]," * (((4 << 20) - 40) // 6) + b"oops"
    for body, status in [(over_batch, 422)] * 8 + [(not_json, 400)] * 4:
        assert len(body) <= 4 << 20
        assert requests.post(url, data=body, headers=JSON, timeout=30).status_code == status
    time.sleep(0.5)  # the worker gives memory back once idle (app/web/memory.py)
    after = worker.memory_full_info().uss / 2**20
    print(f"\nworker USS idle {idle:.1f} MB, after 12 refused 4 MiB bodies {after:.1f} MB")
    assert after - idle < SLACK_MB
    assert worker.is_running() and psutil.Process(server.proc.pid).children() == [worker]
