"""Start, warm up and stop `gunicorn wsgi:app` with the repo's config, changing only env vars."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
WARMUP_BODY = (REPO_ROOT / "examples" / "digit.json").read_bytes()


@dataclass(frozen=True)
class ServerConfig:
    """One Gunicorn configuration under test."""

    workers: int
    worker_class: str = "sync"
    threads: int = 1
    ort_threads: int = 1

    @property
    def label(self) -> str:
        """Name the config briefly, e.g. `2w sync` or `2w gthread x4 ort2`."""
        text = f"{self.workers}w {self.worker_class}"
        if self.worker_class == "gthread":
            text += f" x{self.threads}"
        return text + (f" ort{self.ort_threads}" if self.ort_threads != 1 else "")

    @property
    def variant(self) -> str:
        """Name the config without its worker count (one chart series per variant)."""
        return self.label.split(" ", 1)[1]

    def environ(self, bind: str, control_socket: Path) -> dict[str, str]:
        """Return the environment that selects this config (access log off)."""
        env = {key: value for key, value in os.environ.items() if key != "GUNICORN_ACCESSLOG"}
        env.update(GUNICORN_BIND=bind, GUNICORN_WORKERS=str(self.workers),
                   GUNICORN_WORKER_CLASS=self.worker_class, GUNICORN_THREADS=str(self.threads),
                   DIGITSERVE_ORT_THREADS=str(self.ort_threads),
                   GUNICORN_CONTROL_SOCKET=str(control_socket))
        return env


@dataclass
class Server:
    """A running gunicorn: its process, base URL, log and the model it answered /readyz with."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    model: dict[str, Any]


class ServerError(RuntimeError):
    """Gunicorn exited or never became ready."""


def free_port() -> int:
    """Return a loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(pid: int, cpus: list[int] | None) -> None:
    """Restrict a process and its current children to cpus (None: leave as is)."""
    if not cpus:
        return
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            proc.cpu_affinity(cpus)
        except psutil.Error:
            pass  # a child that just exited


def wait_for_200(url: str, proc: subprocess.Popen[bytes], name: str, *, timeout_s: float = 60.0,
                 request_timeout_s: float = 2.0, log: Path | None = None) -> requests.Response:
    """GET url until it answers 200; return that answer.

    :raises ServerError: at once if proc (called name, writing to log) exits, or after timeout_s.
    """
    see = f"; see {log}" if log else ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with {proc.returncode}{see}")
        try:
            reply = requests.get(url, timeout=request_timeout_s)
            if reply.status_code == 200:
                return reply
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise ServerError(f"{name} did not answer {url} with 200 within {timeout_s} s{see}")


def wait_ready(server: Server, timeout_s: float = 60.0) -> None:
    """Poll /readyz until it answers 200, noting the model; raise ServerError if gunicorn exits."""
    reply = wait_for_200(f"{server.url}/readyz", server.proc, "gunicorn", timeout_s=timeout_s,
                         log=server.log)
    server.model = reply.json().get("model", {})


def warm_up(server: Server, seconds: float, workers: int) -> None:
    """Send /predict requests from a few threads for `seconds`, so every worker has served."""
    deadline = time.monotonic() + seconds

    def loop() -> None:
        """Post the warm-up digit until the deadline."""
        with requests.Session() as session:
            while time.monotonic() < deadline:
                session.post(f"{server.url}/predict", data=WARMUP_BODY,
                             headers={"Content-Type": "application/json"}, timeout=10)

    with ThreadPoolExecutor(max_workers=max(2, workers)) as pool:
        for future in [pool.submit(loop) for _ in range(max(2, workers))]:
            future.result()


def stop(server: Server) -> None:
    """Stop gunicorn gracefully (SIGTERM), killing it only if it hangs."""
    stop_process(server.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process gracefully (SIGTERM), killing it only if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(config: ServerConfig, run_dir: Path, cpus: list[int] | None = None,
            warmup_s: float = 1.0) -> Iterator[Server]:
    """Start gunicorn with config (pinned to cpus), wait for /readyz, warm up; stop on exit."""
    port = free_port()
    log = run_dir / f"gunicorn-{config.label.replace(' ', '_')}-{port}.log"
    env = config.environ(f"127.0.0.1:{port}", run_dir / f".gunicorn-{port}.ctl")
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 "wsgi:app"], cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log, {})
    try:
        pin(proc.pid, cpus)
        wait_ready(server)
        pin(proc.pid, cpus)  # the workers forked since the first call
        if warmup_s > 0:
            warm_up(server, warmup_s, config.workers)
        yield server
    finally:
        stop(server)
