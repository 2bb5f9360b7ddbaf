"""A real Gunicorn, started from the repo's gunicorn.conf.py on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import ephemeral_port_reserve
import pytest
import requests

from tests import system_packages
from tests.support import REPO_ROOT


@dataclass
class Server:
    """A running gunicorn: its process, base URL and log file (stdout, and stderr unless split)."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    errlog: Path | None = None

    def log_text(self) -> str:
        """Return what gunicorn has written so far."""
        return self.log.read_text(errors="replace")


StartServer = Callable[..., Server]


def system_command(name: str) -> Path:
    """Return where a command from tests/system-packages.txt is; fail the test if missing."""
    try:
        return system_packages.require(name)
    except system_packages.MissingPackageError as missing:
        pytest.fail(str(missing), pytrace=False)


def start_gunicorn(tmp_dir: Path, *, split_stderr: bool = False, target: str = "wsgi:app",
                   **env: str) -> Server:
    """Start `gunicorn wsgi:app` (or target) with the repo's config; env overrides defaults.

    With split_stderr, stderr goes to a file of its own (Server.errlog).
    """
    port = ephemeral_port_reserve.reserve("127.0.0.1")
    log = tmp_dir / f"gunicorn-{port}.log"
    errlog = tmp_dir / f"gunicorn-{port}.err" if split_stderr else None
    # Each server makes its own metrics directory, unless a test names one.
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env = {**inherited, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
                "GUNICORN_CONTROL_SOCKET": str(tmp_dir / f"gunicorn-{port}.ctl"),
                "GUNICORN_ACCESSLOG": "-", **env}
    with (log.open("wb") as out,
          errlog.open("wb") if errlog else nullcontext(subprocess.STDOUT) as err):
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 target], cwd=REPO_ROOT, env=full_env, stdout=out,
                                stderr=err)
    return Server(proc, f"http://127.0.0.1:{port}", log, errlog)


def wait_for_ready(url: str, proc: subprocess.Popen[bytes], log: Callable[[], str], *,
                   name: str = "gunicorn", timeout_s: float = 30.0, poll_s: float = 0.1) -> None:
    """Poll url's /readyz until it answers 200; fail at once if proc exits, showing log()."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{log()}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        time.sleep(poll_s)
    pytest.fail(f"{name} not ready after {timeout_s} s:\n{log()}")


def wait_ready(server: Server, timeout_s: float = 30.0) -> None:
    """Poll /readyz until it answers 200; fail at once if gunicorn exits."""
    wait_for_ready(server.url, server.proc, server.log_text, timeout_s=timeout_s)


def wait_for_line(server: Server, fragment: str, timeout_s: float = 5.0) -> str:
    """Return the first log line containing fragment, polling while the worker writes it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if fragment in line:
                return line
        time.sleep(0.05)
    pytest.fail(f"no log line with {fragment!r}:\n{server.log_text()}")


def stop(server: Server) -> None:
    """Stop gunicorn gracefully (SIGTERM), killing it only if it hangs."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=35)  # over the 30 s graceful timeout
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture()
def gunicorn(tmp_path: Path) -> Iterator[StartServer]:
    """Return a function that starts gunicorn servers; stop them all afterwards."""
    servers: list[Server] = []

    def start(*, split_stderr: bool = False, target: str = "wsgi:app", **env: str) -> Server:
        server = start_gunicorn(tmp_path, split_stderr=split_stderr, target=target, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop(server)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Run the service under gunicorn with 2 workers for the session; yield it once ready."""
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"))
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)
