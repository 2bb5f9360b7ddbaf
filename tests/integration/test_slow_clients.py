"""Slow clients: they stall Gunicorn's sync workers directly, but not through deploy/nginx.conf."""

from __future__ import annotations

import json
import re
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.nginx import running_nginx

pytestmark = pytest.mark.integration
WORKERS = 2
BYTE_EVERY_S = 0.3
TRICKLE_S = 12.0  # longer than both probe phases: the slow requests never finish
PROBE_S = 4.0
PROBE_TIMEOUT_S = 3.0
BODY = json.dumps({"data": [0.0] * 784}).encode()


@dataclass
class Front:
    """nginx running deploy/nginx.conf in front of a gunicorn."""

    server: Server
    url: str
    tmp: Path


@dataclass
class Probe:
    """What normal requests got while slow clients were connected."""

    answered: list[float]
    timed_out: int

    def summary(self) -> str:
        """Describe the figures in one line."""
        timed_out = f"{self.timed_out} timed out at {PROBE_TIMEOUT_S:.0f} s"
        if not self.answered:
            return f"0 answered, {timed_out}"
        median = statistics.median(self.answered) * 1000
        return (f"{len(self.answered)} answered (median {median:.1f} ms, max "
                f"{max(self.answered) * 1000:.1f} ms), {timed_out}")


@pytest.fixture()
def front(gunicorn: StartServer, tmp_path: Path) -> Iterator[Front]:
    """Start gunicorn (2 sync workers, the repo's config) and nginx in front of it."""
    server = gunicorn(GUNICORN_WORKERS=str(WORKERS))
    wait_ready(server)
    with running_nginx(tmp_path, urlsplit(server.url).netloc) as nginx:
        yield Front(server, nginx.url, tmp_path)


def trickle(url: str, stop: threading.Event) -> None:
    """Send a valid /predict request a byte every BYTE_EVERY_S, until TRICKLE_S or stopped."""
    address = urlsplit(url)
    request = (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
    deadline = time.monotonic() + TRICKLE_S
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        for byte in request:
            if time.monotonic() > deadline:
                return
            conn.sendall(bytes([byte]))
            if stop.wait(BYTE_EVERY_S):
                return


def probe(url: str) -> Probe:
    """Send normal requests one after another for PROBE_S; time each."""
    result = Probe([], 0)
    end = time.monotonic() + PROBE_S
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            response = requests.post(f"{url}/predict", data=BODY, timeout=PROBE_TIMEOUT_S,
                                     headers={"Content-Type": "application/json"})
        except requests.Timeout:
            result.timed_out += 1
            continue
        assert response.status_code == 200, response.text
        result.answered.append(time.monotonic() - began)
    return result


def attack(url: str) -> Probe:
    """Hold one slow request per worker open against url while probing it."""
    stop = threading.Event()
    slow = [threading.Thread(target=trickle, args=(url, stop)) for _ in range(WORKERS)]
    for thread in slow:
        thread.start()
    time.sleep(1.0)  # a few bytes in: the slow requests are held by whoever reads them
    try:
        return probe(url)
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=10)


def test_nginx_shields_sync_workers_from_slow_clients(front: Front) -> None:
    via_nginx = attack(front.url)
    direct = attack(front.server.url)
    print(f"\n{WORKERS} sync workers, {WORKERS} clients sending a byte every {BYTE_EVERY_S} s;"
          f" normal requests for {PROBE_S:.0f} s:\n  via nginx: {via_nginx.summary()}"
          f"\n  direct:    {direct.summary()}")
    assert via_nginx.timed_out == 0
    assert via_nginx.answered and max(via_nginx.answered) < 1.0
    assert direct.timed_out >= 1 or max(direct.answered) > 2.0
    # Once the slow clients are gone, Gunicorn answers again, directly and through nginx.
    for url in (front.server.url, front.url):
        assert requests.get(f"{url}/readyz", timeout=5).status_code == 200


def test_nginx_forwards_the_request_id(front: Front) -> None:
    given = requests.get(f"{front.url}/livez", headers={"X-Request-ID": "trace-42"}, timeout=5)
    assert given.headers["X-Request-ID"] == "trace-42"
    made = requests.get(f"{front.url}/livez", timeout=5).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)  # nginx's $request_id, kept by the app
    # The same id in nginx's access log (quoted there) and in Gunicorn's.
    time.sleep(0.2)
    assert f'request_id="{made}"' in (front.tmp / "nginx.access.log").read_text()
    assert f"request_id={made}" in front.server.log_text()
    # An id the app would replace is replaced by nginx first: one id in both logs, and no
    # client text in the log but escaped.
    forged = requests.get(f"{front.url}/livez", headers={"X-Request-ID": 'a b" status=999'},
                          timeout=5).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)
    time.sleep(0.2)
    assert f'request_id="{forged}"' in (front.tmp / "nginx.access.log").read_text()
    assert f"request_id={forged}" in front.server.log_text()
    assert "status=999" not in (front.tmp / "nginx.access.log").read_text()
