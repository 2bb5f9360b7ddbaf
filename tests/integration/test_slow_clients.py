"""Slow clients: they stall Gunicorn's sync workers directly, but not through nginx."""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import ephemeral_port_reserve
import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TRICKLE_SECONDS = 8.0
PROBE_SECONDS = 5.0
BODY = json.dumps({"data": [0.0] * 784}).encode()


def render_nginx(tmp_path: Path, listen: int, upstream: str) -> Path:
    """Write a main config that includes deploy/'s file with this test's ports and paths."""
    site = (REPO_ROOT / "deploy" / "digitserve.nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:8000;", f"server {upstream};")
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    (tmp_path / "site.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(f"""daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    return main


@pytest.fixture()
def front(gunicorn: StartServer, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """Start gunicorn (2 sync workers) and nginx in front of it; yield both base URLs."""
    assert Path(NGINX).exists(), "nginx is not installed (apt-get install nginx; .ci/run does)"
    server = gunicorn(GUNICORN_WORKERS="2")
    wait_ready(server)
    port = ephemeral_port_reserve.reserve("127.0.0.1")
    config = render_nginx(tmp_path, port, urlsplit(server.url).netloc)
    with (tmp_path / "nginx.out").open("wb") as out:
        nginx = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path)],
                                 stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert nginx.poll() is None, (tmp_path / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        yield server, url
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def trickle(url: str, stop: threading.Event) -> None:
    """Send a valid /predict request one byte every 0.2 s, until done or stopped."""
    address = urlsplit(url)
    request = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        deadline = time.monotonic() + TRICKLE_SECONDS
        for byte in request:
            if stop.is_set() or time.monotonic() > deadline:
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)


def probe(url: str) -> tuple[int, list[float]]:
    """Send normal requests for PROBE_SECONDS; return timeouts and successful latencies."""
    timeouts, latencies = 0, []
    end = time.monotonic() + PROBE_SECONDS
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            response = requests.post(f"{url}/predict", data=BODY, timeout=2,
                                     headers={"Content-Type": "application/json"})
            assert response.status_code == 200
            latencies.append(time.monotonic() - began)
        except requests.Timeout:
            timeouts += 1
    return timeouts, latencies


def attack(url: str, connections: int) -> tuple[int, list[float]]:
    """Hold `connections` slow requests open against url while probing it."""
    stop = threading.Event()
    slow = [threading.Thread(target=trickle, args=(url, stop)) for _ in range(connections)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)  # the slow requests have reached whoever reads them
    try:
        return probe(url)
    finally:
        stop.set()
        for thread in slow:
            thread.join(timeout=10)


def test_nginx_shields_sync_workers_from_slow_clients(front: tuple[Server, str]) -> None:
    server, nginx_url = front
    via_nginx = attack(nginx_url, connections=2)
    direct = attack(server.url, connections=2)
    for name, (timeouts, latencies) in (("via nginx", via_nginx), ("direct", direct)):
        median = statistics.median(latencies) * 1000 if latencies else float("nan")
        worst = max(latencies, default=float("nan")) * 1000
        print(f"\n{name}: {len(latencies)} answered, {timeouts} timed out (2 s), "
              f"median {median:.1f} ms, max {worst:.1f} ms")
    timeouts, latencies = via_nginx
    assert timeouts == 0 and latencies and max(latencies) < 1.0
    timeouts, latencies = direct
    assert timeouts >= 1 or max(latencies) > 2.0
    assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
