"""Hostile pictures through deploy/nginx.conf: rate-limited per client, workers alive, probes kept.

Two clients loop the costliest pictures for ATTACK_S (the red team's 2 MB file of repeated
scans, refused from its header, and the largest progressive JPEG the budget still decodes,
0.3 to 0.4 s of a worker each) while /livez is probed; then the same straight to Gunicorn.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests import hostile_pictures as hp
from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.nginx import Nginx
from tests.integration.nginx import running_nginx

pytestmark = pytest.mark.integration
ATTACK_S = 15.0
PROBE_EVERY_S = 0.2
PROBE_TIMEOUT_S = 2.0
CLIENTS = 2
RATE, BURST = 2, 10  # deploy/nginx.conf: limit_req_zone rate=2r/s; limit_req burst=10


@dataclass
class Attack:
    """What a picture attack got, and what /livez probes got meanwhile."""

    answers: Counter[int] = field(default_factory=Counter)
    probes: list[float | None] = field(default_factory=list)  # seconds, None for a failure
    peak_rss_mb: float = 0.0

    def probe_share(self) -> float:
        """Return the share of probes answered 200 within PROBE_TIMEOUT_S."""
        return sum(took is not None for took in self.probes) / len(self.probes)

    def summary(self) -> str:
        """Describe the figures in one line."""
        answered = sorted(took for took in self.probes if took is not None)
        median = answered[len(answered) // 2] * 1000 if answered else float("nan")
        return (f"pictures answered {dict(sorted(self.answers.items()))}; /livez "
                f"{len(answered)}/{len(self.probes)} ({self.probe_share():.0%}), median "
                f"{median:.0f} ms; workers' peak RSS {self.peak_rss_mb:.0f} MB")


@pytest.fixture(scope="module")
def files() -> list[tuple[bytes, str]]:
    """The pictures the clients loop: refused from the header, and the costliest accepted."""
    return [(hp.repeat_scan(hp.progressive_jpeg(2000, 2000), 55_000), "image/jpeg"),
            (hp.repeat_scan(hp.progressive_jpeg(5792, 5792), 26), "image/jpeg")]


@pytest.fixture()
def front(gunicorn: StartServer, tmp_path: Path) -> Iterator[tuple[Server, Nginx]]:
    """Start gunicorn (2 sync workers, the repo's config) and nginx in front of it."""
    server = gunicorn()
    wait_ready(server)
    with running_nginx(tmp_path, urlsplit(server.url).netloc) as nginx:
        yield server, nginx


def workers(server: Server) -> set[int]:
    return {child.pid for child in psutil.Process(server.proc.pid).children()}


def attack(url: str, server: Server, files: list[tuple[bytes, str]]) -> Attack:
    """Loop the files from CLIENTS clients for ATTACK_S, probing url's /livez meanwhile."""
    result = Attack()
    deadline = time.monotonic() + ATTACK_S

    def client() -> None:
        with requests.Session() as session:
            turn = 0
            while time.monotonic() < deadline:
                data, kind = files[turn % len(files)]
                turn += 1
                response = session.post(f"{url}/predict/image", data=data, timeout=40,
                                        headers={"Content-Type": kind})
                result.answers[response.status_code] += 1

    def prober() -> None:
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                ok = requests.get(f"{url}/livez", timeout=PROBE_TIMEOUT_S).status_code == 200
            except requests.RequestException:
                ok = False
            result.probes.append(time.monotonic() - began if ok else None)
            time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - began)))

    def watch() -> None:
        while time.monotonic() < deadline:
            for pid in workers(server):
                try:
                    rss = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
                result.peak_rss_mb = max(result.peak_rss_mb, rss)
            time.sleep(0.05)

    run_all([client] * CLIENTS + [prober, watch])
    return result


def run_all(tasks: list[Callable[[], None]]) -> None:
    """Run each task in a thread of its own and wait for all; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(task: Callable[[], None]) -> None:
        try:
            task()
        except BaseException as error:  # noqa: B036  (re-raised in the test's thread)
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=ATTACK_S + 60)
    if failures:
        raise failures[0]


def test_two_clients_looping_the_worst_pictures(front: tuple[Server, Nginx],
                                                files: list[tuple[bytes, str]]) -> None:
    server, nginx = front
    before = workers(server)
    via_nginx = attack(nginx.url, server, files)
    reached = server.log_text().count("POST /predict/image")  # what nginx let through
    direct = attack(server.url, server, files)
    print(f"\n{CLIENTS} clients looping the worst pictures for {ATTACK_S:.0f} s, /livez every "
          f"{PROBE_EVERY_S} s:\n  via nginx: {via_nginx.summary()}\n  direct:    "
          f"{direct.summary()}")
    assert via_nginx.probe_share() >= 0.95, via_nginx.summary()
    assert set(via_nginx.answers) <= {422, 429}, via_nginx.answers
    assert workers(server) == before  # no worker killed (timeout, memory) and replaced
    log = server.log_text()
    assert "WORKER TIMEOUT" not in log and "SIGKILL" not in log and "Traceback" not in log
    assert reached <= RATE * ATTACK_S + 1 + BURST  # the rate, and the burst once
    assert via_nginx.peak_rss_mb < 300 and direct.peak_rss_mb < 300


def test_over_the_rate_a_client_gets_429_json(front: tuple[Server, Nginx]) -> None:
    _, nginx = front
    picture = hp.progressive_jpeg(64, 64)
    statuses: list[requests.Response] = []

    def send() -> None:
        statuses.append(requests.post(f"{nginx.url}/predict/image", data=picture, timeout=30,
                                      headers={"Content-Type": "image/jpeg"}))

    run_all([send] * 30)
    refused = [response for response in statuses if response.status_code == 429]
    assert {response.status_code for response in statuses} == {422, 429}  # 422: blank
    assert len(statuses) - len(refused) <= 1 + BURST
    body = json.loads(refused[0].content)
    assert body == {"code": 429, "status": "Too Many Requests", "message": body["message"]}
    assert "2 pictures a second" in body["message"]
    assert refused[0].headers["Retry-After"] == "1" and refused[0].headers["X-Request-ID"]
    # Other routes are not limited.
    assert requests.get(f"{nginx.url}/livez", timeout=5).status_code == 200


def test_one_picture_at_a_time_is_slowed_never_refused(front: tuple[Server, Nginx]) -> None:
    _, nginx = front
    picture = hp.progressive_jpeg(64, 64)
    began = time.monotonic()
    with requests.Session() as session:
        statuses = [session.post(f"{nginx.url}/predict/image", data=picture, timeout=30,
                                 headers={"Content-Type": "image/jpeg"}).status_code
                    for _ in range(20)]
    took = time.monotonic() - began
    assert statuses == [422] * 20  # blank, every one decoded
    assert took >= (20 - 1 - 2) / RATE - 1  # paced at RATE after the 2 let through at once
