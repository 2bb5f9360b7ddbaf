"""The container the Dockerfile makes, run without a container engine: read-only, unprivileged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from tests.integration.conftest import wait_for_ready
from tests.integration.image import Image
from tests.integration.image import interpreter_paths
from tests.integration.image import read_image
from tests.integration.image import sandbox_argv
from tests.integration.image import stage
from tests.integration.load import right_digits
from tests.integration.netns import namespaces
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration


@dataclass
class Container:
    """The image's CMD running in its own network namespace on a read-only root."""

    image: Image
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    uid: int

    def log_text(self) -> str:
        """Return what the server has written so far."""
        return self.log.read_text(errors="replace")

    def inside(self, *argv: str) -> list[str]:
        """Return the argv that runs argv in the container's filesystem, as its user, with its
        ENV (as `kubectl exec` and the preStop hook do)."""
        env = [f"{key}={value}" for key, value in self.image.env.items()]
        return ["nsenter", f"--target={self.proc.pid}", "--mount", "--root", "--wd",
                "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                "env", "-i", *env, *argv]

    def run_inside(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a shell script inside the container and wait for it."""
        return subprocess.run(self.inside("/bin/sh", "-c", script), capture_output=True,
                              text=True, timeout=10)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """Start the image's CMD as its USER, with its ENV, its files read-only and /tmp a tmpfs."""
    image = read_image()
    tmp = tmp_path_factory.mktemp("container")
    staged = stage(image, tmp / "image")
    (tmp / "rootfs").mkdir()
    uid = int(image.user.split(":")[0])
    # What the base image and the passwd entry the Dockerfile makes would add.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "HOME": "/nonexistent", **image.env}
    log = tmp / "server.log"
    with namespaces(1) as (host,):
        with log.open("wb") as out:
            proc = subprocess.Popen(host.argv(*sandbox_argv(image, staged, tmp / "rootfs", env)),
                                    stdout=out, stderr=subprocess.STDOUT)
        port = image.env["GUNICORN_BIND"].rsplit(":", 1)[1]
        running = Container(image, proc, f"http://{host.address}:{port}", log, uid)
        try:
            wait_for_ready(running.url, proc, running.log_text, name="the container")
            yield running
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_it_answers_as_an_unprivileged_user(container: Container) -> None:
    for body, label in right_digits()[:20]:
        response = requests.post(f"{container.url}/predict", data=body, timeout=5,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        assert response.json()["prediction"] == label
    metrics = requests.get(f"{container.url}/metrics", timeout=5)
    assert 'digitserve_http_requests_total{endpoint="/predict"' in metrics.text
    master = psutil.Process(container.proc.pid)
    processes = [master, *master.children()]
    assert len(processes) >= 2
    for process in processes:
        assert process.uids().real == process.uids().effective == container.uid != 0
        status = Path(f"/proc/{process.pid}/status").read_text()
        assert "CapEff:\t0000000000000000" in status, status
        assert "NoNewPrivs:\t1" in status, status
        assert Path(f"/proc/{process.pid}/cwd").resolve() == Path(f"/proc/{process.pid}/root",
                                                                  "app").resolve()


def test_only_tmp_is_written(container: Container) -> None:
    probe = container.run_inside(
        'for dir in /app /app/app /nonexistent / /usr /etc /tmp; do '
        '  if (mkdir -p "$dir/probe" && rmdir "$dir/probe") 2>/dev/null; '
        '  then echo "writable $dir"; else echo "refused $dir"; fi; done; '
        'ls -A /tmp')
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    print(f"\ninside the container: {lines}")
    assert [line for line in lines if line.startswith("writable")] == ["writable /tmp"]
    # What the server wrote: the control socket, the metrics and the checked copy of the model
    # the workers load, all under /tmp; HOME absent.
    tmp = Path(f"/proc/{container.proc.pid}/root/tmp")
    # The master opens its control socket once the workers are up, maybe after /readyz answers.
    deadline = time.monotonic() + 10
    while not (tmp / "gunicorn.ctl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # An interpreter that lives under the host's /tmp is bound there, read-only.
    bound = {Path(path).parts[2] for path in interpreter_paths() if path.startswith("/tmp/")}
    written = {path.name for path in tmp.iterdir()} - bound
    copies = {name for name in written if name.startswith("digitserve-model-")}
    assert written - copies == {"gunicorn.ctl", "metrics"} and len(copies) == 1, written
    assert not Path(f"/proc/{container.proc.pid}/root/nonexistent").exists()
    log = container.log_text()
    for trouble in ("telemetry", "Traceback", "Read-only", "ermission denied", "Failed to"):
        assert trouble not in log, log


def test_the_prestop_hook_drains(container: Container) -> None:
    # The Deployment's preStop command, run inside as the kubelet would: /readyz turns 503
    # while /predict still answers; the hook's sleep is cut short here.
    deployment = yaml.safe_load((REPO_ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    command = deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
    hook = subprocess.Popen(container.inside(*command["exec"]["command"]),
                            start_new_session=True)  # the shell and its sleep, ended together
    try:
        started = time.monotonic()
        while (ready := requests.get(f"{container.url}/readyz", timeout=5)).status_code == 200:
            assert time.monotonic() - started < 5 and hook.poll() is None, "no drain"
            time.sleep(0.02)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        body, label = right_digits()[0]
        answer = requests.post(f"{container.url}/predict", data=body, timeout=5,
                               headers={"Content-Type": "application/json"})
        assert answer.json()["prediction"] == label
        assert hook.poll() is None  # still in its sleep: the kubelet waits for it
    finally:
        os.killpg(hook.pid, signal.SIGTERM)
        hook.wait(timeout=10)
        container.run_inside('rm -f "$DIGITSERVE_DRAIN_FILE"')
    assert requests.get(f"{container.url}/readyz", timeout=5).status_code == 200


def test_a_read_only_metrics_directory_stops_metrics_not_the_server(
        container: Container) -> None:
    # As the unprivileged user the directory's mode really binds: no new sample file can be
    # made, so a new worker cannot record, and the master cannot remove a dead worker's files.
    master = psutil.Process(container.proc.pid)
    victim = min(child.pid for child in master.children())
    assert container.run_inside('chmod 555 "$PROMETHEUS_MULTIPROC_DIR"').returncode == 0
    try:
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while victim in {child.pid for child in master.children()} or len(
                master.children()) < 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.05)
        for body, label in right_digits()[:40]:  # both workers, the new one among them
            answer = requests.post(f"{container.url}/predict", data=body, timeout=5,
                                   headers={"Content-Type": "application/json"})
            assert answer.status_code == 200 and answer.json()["prediction"] == label
        assert requests.get(f"{container.url}/metrics", timeout=5).status_code == 200
    finally:
        container.run_inside('chmod 755 "$PROMETHEUS_MULTIPROC_DIR"')
    log = container.log_text()
    assert master.is_running() and "stops recording them and keeps serving" in log, log
    assert "cannot fold in worker" in log and "Traceback" not in log, log
