"""Several hosts on one machine: a Gunicorn per network namespace, deploy/'s nginx in front."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil
import pytest
import requests

from tests.integration.conftest import system_command
from tests.integration.conftest import wait_for_ready
from tests.integration.load import BackgroundClient
from tests.integration.netns import Netns
from tests.integration.nginx import adapted
from tests.integration.nginx import start_nginx
from tests.support import REPO_ROOT

PORT = 8000


class Host:
    """One host: a network namespace and the Gunicorn serving in it (restartable)."""

    def __init__(self, ns: Netns, tmp: Path, **env: str) -> None:
        self.ns = ns
        self.addr = f"{ns.address}:{PORT}"
        self.url = f"http://{self.addr}"
        self.drain_file = tmp / f"{ns.name}.drain"
        self._tmp = tmp
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the repo's gunicorn.conf.py + wsgi:app inside the namespace, on its address."""
        self.starts += 1
        env = {**os.environ, "GUNICORN_BIND": self.addr, "GUNICORN_WORKERS": "1",
               "GUNICORN_CONTROL_SOCKET": str(self._tmp / f"{self.ns.name}.ctl"),
               "DIGITSERVE_DRAIN_FILE": str(self.drain_file),
               # Here, not a temporary directory that a KILLed master would leave in /tmp.
               "PROMETHEUS_MULTIPROC_DIR": str(self._tmp / f"{self.ns.name}.metrics"),
               **self._env}
        with self.log.open("ab") as out:
            # Its own session: a KILL of the host takes the master and its workers at once.
            self.proc = subprocess.Popen(
                self.ns.argv(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                             "wsgi:app"),
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    @property
    def log(self) -> Path:
        """Return the host's Gunicorn log (every start appends to it)."""
        return self._tmp / f"{self.ns.name}.log"

    def ready(self, timeout_s: float = 0.5) -> bool:
        """Return whether /readyz answers 200 now."""
        try:
            return requests.get(f"{self.url}/readyz", timeout=timeout_s).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Wait for /readyz to answer 200; fail at once if Gunicorn exits."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"{self.ns.name} exited {self.proc.returncode}:\n"
                            f"{self.log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.ns.name} not ready:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def term(self, timeout_s: float = 35.0) -> int:
        """Send TERM to the master (a graceful stop) and wait for it; return its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        """KILL the master and its workers at once, as if the host were lost; return once all
        of them are dead (the listening socket closes with the last one)."""
        assert self.proc is not None
        members = [psutil.Process(self.proc.pid)]
        members += members[0].children(recursive=True)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        # Orphaned workers stay zombies until init reaps them (here up to 2 s), but dead.
        deadline = time.monotonic() + 5
        while any(alive(member) for member in members) and time.monotonic() < deadline:
            time.sleep(0.002)

    def stop(self) -> None:
        """Stop whatever still runs of this host (teardown)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.term(timeout_s=10)
        except subprocess.TimeoutExpired:
            self.kill()


def alive(process: psutil.Process) -> bool:
    """Return whether a process still runs (neither gone nor a zombie)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass(frozen=True)
class Logged:
    """One line of nginx's access log (deploy/nginx.conf's `digitserve` format)."""

    ended: float  # Unix time
    seconds: float
    status: int
    upstreams: tuple[str, ...]  # every host tried, in order
    upstream_statuses: tuple[str, ...]
    request_id: str

    @property
    def started(self) -> float:
        """Return when nginx read the request (Unix time)."""
        return self.ended - self.seconds


_LINE = re.compile(r'^(?P<msec>[\d.]+) \S+ "[^"]*" (?P<status>\d+) \d+ (?P<time>[\d.]+)s .*'
                   r'upstream_addr="(?P<addrs>[^"]*)" upstream_status="(?P<statuses>[^"]*)" '
                   r'request_id="(?P<id>[^"]+)"$')


class Front:
    """nginx running a copy of deploy/nginx.conf with deploy/upstream.conf for these hosts."""

    def __init__(self, tmp: Path, hosts: list[Host], listen: int) -> None:
        self.tmp = tmp
        self.hosts = hosts
        self.url = f"http://127.0.0.1:{listen}"
        self.upstream_file = tmp / "upstream.conf"
        self.reloads = 0
        text, found = re.subn(r"\n    upstream digitserve \{.*?\n    \}\n",
                              f"\n    include {self.upstream_file};\n", adapted(tmp, listen, {}),
                              flags=re.S)
        assert found == 1, "deploy/nginx.conf has no `upstream digitserve` block"
        self.config = tmp / "nginx.conf"
        self.config.write_text(text)
        self.write_upstream(down=())
        self.proc = start_nginx(system_command("nginx"), tmp, self.config)

    def write_upstream(self, down: Iterable[str]) -> None:
        """Write deploy/upstream.conf with these hosts, marking `down` the addresses in down."""
        down = set(down)
        template = (REPO_ROOT / "deploy" / "upstream.conf").read_text()
        servers = re.findall(r"^    server \S+:8000 (.*);$", template, flags=re.M)
        assert servers, "deploy/upstream.conf has no `server ...:8000 ...;` lines"
        lines = [f"    server {host.addr} {servers[0]}{' down' if host.addr in down else ''};"
                 for host in self.hosts]
        text = re.sub(r"(^    server \S+:8000 .*;\n)+", "\n".join(lines) + "\n", template,
                      flags=re.M)
        self.upstream_file.write_text(text)

    def reload(self, down: Iterable[str]) -> None:
        """Rewrite the upstream and have nginx reload it (HUP: new workers, old ones finish)."""
        self.write_upstream(down)
        self.proc.send_signal(signal.SIGHUP)
        self.reloads += 1

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until nginx answers /readyz through to a host."""
        wait_for_ready(self.url, self.proc, self.logs, name="nginx", timeout_s=timeout_s,
                       poll_s=0.05)

    def logs(self) -> str:
        """Return nginx's error logs."""
        return "\n".join(path.read_text(errors="replace")
                         for path in sorted(self.tmp.glob("nginx*.log")) if "access" not in
                         path.name)

    def access_log(self) -> dict[str, Logged]:
        """Return the access log's lines by request id."""
        lines = {}
        for line in (self.tmp / "nginx.access.log").read_text().splitlines():
            match = _LINE.match(line)
            assert match, f"unexpected nginx log line: {line}"
            lines[match["id"]] = Logged(
                float(match["msec"]), float(match["time"]), int(match["status"]),
                tuple(re.split(r", | : ", match["addrs"])),
                tuple(re.split(r", | : ", match["statuses"])), match["id"])
        return lines

    def stop(self) -> None:
        """Stop nginx (QUIT: finish what is in flight)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Follower:
    """Keep nginx's upstream in step with each host's /readyz, as Kubernetes does its endpoints.

    nginx's open-source build checks hosts only passively, by the requests it sends; it
    never asks /readyz. This thread asks every host every 0.1 s and marks `down` (then has
    nginx reload) each one that does not answer 200: draining, stopping or gone.
    """

    def __init__(self, front: Front, poll_s: float = 0.1) -> None:
        self.front = front
        self.poll_s = poll_s
        self.down: set[str] = set()
        self.changes: list[tuple[float, frozenset[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def in_rotation(self, host: Host) -> bool:
        """Return whether nginx has been told to send to this host."""
        return host.addr not in self.down

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            down = {host.addr for host in self.front.hosts if not host.ready(timeout_s=0.3)}
            if down != self.down:
                self.front.reload(down)
                self.down = down
                self.changes.append((time.time(), frozenset(down)))

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class Sent:
    """One request through nginx: its id, when it ran (Unix time) and how it ended."""

    request_id: str
    started: float
    ended: float
    status: int | None
    ok: bool  # 200 with the right label
    error: str | None = None


class Traffic(BackgroundClient[Sent]):
    """Send real digits to nginx from a few threads, a new connection for each request.

    Every request carries its own X-Request-ID, which nginx logs with the hosts it tried, so
    each failure can be traced to the host that lost it. Bounded by max_seconds. No keep-alive
    to nginx: a reload closes its old workers' idle client connections, and a client that
    sends on one just then gets an error without any host having seen the request (browsers
    resend it; python-requests does not). That is nginx's reload, not a lost host.
    """

    def __init__(self, url: str, threads: int = 4, max_seconds: float = 60.0) -> None:
        super().__init__(url, threads, max_seconds)

    @property
    def sent(self) -> list[Sent]:
        """Return every finished request so far."""
        return self.results()

    def _send(self, body: str, label: int, request_id: str) -> Sent:
        started = time.time()
        try:
            response = requests.post(self.url, data=body, timeout=10, headers={
                "Content-Type": "application/json", "X-Request-ID": request_id,
                "Connection": "close"})
            ok = response.status_code == 200 and response.json()["prediction"] == label
            return Sent(request_id, started, time.time(), response.status_code, ok)
        except requests.RequestException as error:
            return Sent(request_id, started, time.time(), None, False, type(error).__name__)
