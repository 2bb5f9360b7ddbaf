"""nginx running a copy of deploy/nginx.conf with a test's own port, paths and upstream."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ephemeral_port_reserve

from tests.integration.conftest import system_command
from tests.support import REPO_ROOT

CONFIG = REPO_ROOT / "deploy" / "nginx.conf"


@dataclass
class Nginx:
    """A running nginx: its base URL and the directory with its logs."""

    url: str
    tmp: Path

    def logs(self) -> str:
        """Return nginx's start-up, error and access logs."""
        return "\n".join(path.read_text(errors="replace")
                         for path in sorted(self.tmp.glob("nginx*.log")))


@dataclass
class Answer:
    """One raw HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def adapted(tmp: Path, listen: int, changes: Mapping[str, str]) -> str:
    """Return deploy/nginx.conf in the foreground, with this test's port and paths and changes.

    changes: more exact-text replacements; each one, like ours, must find its text.
    """
    text = CONFIG.read_text()
    # Started as root, workers would drop to www-data, who cannot enter pytest's 0700 tmp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    replacements = {
        "user www-data;": user,
        "pid /run/nginx.pid;": f"pid {tmp}/nginx.pid;",
        "/var/log/nginx/digitserve.": f"{tmp}/nginx.",
        "/var/lib/nginx/": f"{tmp}/",
        "listen 8080;": f"listen 127.0.0.1:{listen};",
        **changes,
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}; update this test"
        text = text.replace(old, new)
    return "daemon off;\n" + text


def render(tmp: Path, listen: int, upstream: str, changes: Mapping[str, str]) -> Path:
    """Write deploy/nginx.conf's copy for one upstream (host:port) to tmp; return its path."""
    config = tmp / "nginx.conf"
    config.write_text(adapted(tmp, listen, {"server 127.0.0.1:8000;": f"server {upstream};",
                                            **changes}))
    return config


def start_nginx(binary: Path, tmp: Path, config: Path) -> subprocess.Popen[bytes]:
    """Start nginx on config with tmp as its prefix, its output in tmp/nginx.out."""
    with (tmp / "nginx.out").open("wb") as out:
        return subprocess.Popen([str(binary), "-c", str(config), "-p", str(tmp),
                                 "-e", str(tmp / "nginx.startup.log")],
                                stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def running_nginx(tmp: Path, upstream: str,
                  changes: Mapping[str, str] | None = None) -> Iterator[Nginx]:
    """Run deploy/nginx.conf in front of upstream (host:port) until the block ends.

    changes: more exact-text replacements in the config (a shorter timeout, say).
    """
    binary = system_command("nginx")
    port = ephemeral_port_reserve.reserve("127.0.0.1")
    config = render(tmp, port, upstream, changes or {})
    front = Nginx(f"http://127.0.0.1:{port}", tmp)
    nginx = start_nginx(binary, tmp, config)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert nginx.poll() is None, f"nginx exited: {front.logs()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nginx did not listen: {front.logs()}"
                time.sleep(0.05)
        yield front
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()


def exchange(url: str, request: bytes, timeout_s: float = 10.0) -> Answer:
    """Send raw bytes; read one response, up to the end of its body (not to EOF).

    nginx keeps reading, then lingers, after refusing a request whose body it did not take.
    """
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout_s) as conn:
        conn.sendall(request)
        data = b""
        while True:
            head, separator, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            if separator and length and len(body) >= int(length[1]):
                break
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    assert separator, f"no HTTP response: {data!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split(" ")[1]), headers, body)
