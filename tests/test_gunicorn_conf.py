"""The start-up check of every GUNICORN_* and DIGITSERVE_* variable: one line each, exit 3."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.server import environment
from tests.support import REPO_ROOT

CONFIG = REPO_ROOT / "gunicorn.conf.py"
BAD = [
    ("GUNICORN_BIND", "127.0.0.1:abc"), ("GUNICORN_BIND", "127.0.0.1:70000"),
    ("GUNICORN_BIND", ""), ("GUNICORN_BIND", "fd://three"),
    ("GUNICORN_BACKLOG", "0"), ("GUNICORN_BACKLOG", "lots"),
    ("GUNICORN_WORKERS", "two"), ("GUNICORN_WORKERS", "0"), ("GUNICORN_WORKERS", "2.5"),
    ("GUNICORN_WORKERS", ""),
    ("GUNICORN_WORKER_CLASS", "gevent"), ("GUNICORN_WORKER_CLASS", "Sync"),
    ("GUNICORN_THREADS", "0"),
    ("GUNICORN_TIMEOUT", "-1"), ("GUNICORN_TIMEOUT", "30s"),
    ("GUNICORN_GRACEFUL_TIMEOUT", "-1"),
    ("GUNICORN_KEEPALIVE", "on"),
    ("GUNICORN_MAX_REQUESTS", "-5"), ("GUNICORN_MAX_REQUESTS_JITTER", "1e3"),
    ("GUNICORN_LIMIT_REQUEST_LINE", "0"), ("GUNICORN_LIMIT_REQUEST_LINE", "8191"),
    ("GUNICORN_LIMIT_REQUEST_FIELDS", "0"), ("GUNICORN_LIMIT_REQUEST_FIELDS", "32769"),
    ("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "0"),
    ("GUNICORN_ACCESSLOG", "/nonexistent/access.log"), ("GUNICORN_ACCESSLOG", "/tmp"),
    ("GUNICORN_ERRORLOG", "/nonexistent/error.log"), ("GUNICORN_ERRORLOG", ""),
    ("GUNICORN_LOGLEVEL", "loud"), ("GUNICORN_LOG_FORMAT", "JSON"),
    ("GUNICORN_FORWARDED_ALLOW_IPS", "nope"), ("GUNICORN_FORWARDED_ALLOW_IPS", "10.0.0.1/8"),
    ("GUNICORN_CONTROL_SOCKET", ""), ("GUNICORN_CONTROL_SOCKET_DISABLE", "yes"),
    ("DIGITSERVE_MAX_BATCH", "0"), ("DIGITSERVE_MAX_BATCH", "lots"),
    ("DIGITSERVE_ORT_THREADS", "65"), ("DIGITSERVE_MAX_CONTENT_LENGTH", "true"),
    ("DIGITSERVE_MAX_IMAGE_PIXELS", "1.5"), ("DIGITSERVE_LOG_LEVEL", "loud"),
    ("DIGITSERVE_DRAIN_FILE", "/nonexistent/drain"), ("DIGITSERVE_MODEL_PATH", '""'),
]
GOOD = [
    ("GUNICORN_BIND", "0.0.0.0:8000"), ("GUNICORN_BIND", "[::1]:8000"),
    ("GUNICORN_BIND", "localhost"), ("GUNICORN_BIND", "unix:/run/digitserve.sock"),
    ("GUNICORN_BIND", "fd://3"),
    ("GUNICORN_BACKLOG", "2048"), ("GUNICORN_WORKERS", "1"), ("GUNICORN_WORKERS", " 4 "),
    ("GUNICORN_WORKER_CLASS", "sync"), ("GUNICORN_WORKER_CLASS", "gthread"),
    ("GUNICORN_THREADS", "4"), ("GUNICORN_TIMEOUT", "0"), ("GUNICORN_GRACEFUL_TIMEOUT", "0"),
    ("GUNICORN_KEEPALIVE", "0"), ("GUNICORN_MAX_REQUESTS", "0"),
    ("GUNICORN_MAX_REQUESTS_JITTER", "20"),
    ("GUNICORN_LIMIT_REQUEST_LINE", "8190"), ("GUNICORN_LIMIT_REQUEST_FIELDS", "32768"),
    ("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"),
    ("GUNICORN_ACCESSLOG", "-"), ("GUNICORN_ACCESSLOG", ""),
    ("GUNICORN_ACCESSLOG", "{tmp}/access.log"), ("GUNICORN_ERRORLOG", "{tmp}/error.log"),
    ("GUNICORN_ACCESS_LOG_FORMAT", "%(h)s %(r)s"), ("GUNICORN_PROC_NAME", "digitserve-a"),
    ("GUNICORN_LOGLEVEL", "debug"), ("GUNICORN_LOGLEVEL", "WARNING"),
    ("GUNICORN_LOG_FORMAT", "text"), ("GUNICORN_LOG_FORMAT", "json"),
    ("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1, 10.0.0.0/8,::1"),
    ("GUNICORN_FORWARDED_ALLOW_IPS", "*"), ("GUNICORN_FORWARDED_ALLOW_IPS", ""),
    ("GUNICORN_CONTROL_SOCKET", "{tmp}/ctl.sock"),
    ("GUNICORN_CONTROL_SOCKET_DISABLE", "1"), ("GUNICORN_CONTROL_SOCKET_DISABLE", "true"),
    ("GUNICORN_CONTROL_SOCKET_DISABLE", "0"), ("GUNICORN_CONTROL_SOCKET_DISABLE", ""),
    ("DIGITSERVE_MAX_BATCH", "32"), ("DIGITSERVE_LOG_LEVEL", "debug"),
    ("DIGITSERVE_DRAIN_FILE", "{tmp}/drain"), ("DIGITSERVE_MODEL_PATH", "/anywhere/model.onnx"),
]


def names_used() -> set[str]:
    """Return the GUNICORN_* names gunicorn.conf.py reads."""
    tree = ast.parse(CONFIG.read_text())
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"GUNICORN_[A-Z_]+", node.value)}


def verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> list[str]:
    """Return the start-up check's lines with only name=value set among GUNICORN_* variables."""
    for key in [key for key in os.environ if key.startswith(("GUNICORN_", "DIGITSERVE_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(name, value.format(tmp=tmp_path))
    return environment.problems()


def test_every_variable_read_has_a_rule() -> None:
    assert names_used() == set(environment.GUNICORN_RULES)


def test_every_rule_is_tested() -> None:
    tested = {name for name, _ in BAD} | {name for name, _ in GOOD}
    assert {name for name in tested if name.startswith("GUNICORN_")} == set(
        environment.GUNICORN_RULES)


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_value_stops_with_a_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        name: str, value: str) -> None:
    lines = verdict(monkeypatch, tmp_path, name, value)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {name} is {value!r}; it must be "), lines


@pytest.mark.parametrize(("name", "value"), GOOD)
def test_good_value_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                                value: str) -> None:
    assert verdict(monkeypatch, tmp_path, name, value) == []


def test_gunicorn_prints_every_bad_value_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "GUNICORN_WORKERS": "two",
           "GUNICORN_LOGLEVEL": "loud", "DIGITSERVE_MAX_BATCH": "0",
           "GUNICORN_BIND": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                           "wsgi:app"], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == environment.REFUSED
    assert done.stderr.splitlines() == [
        "Error: GUNICORN_WORKERS is 'two'; it must be a whole number, 1 or more.",
        "Error: GUNICORN_LOGLEVEL is 'loud'; it must be one of 'debug', 'info', 'warning', "
        "'error', 'critical'.",
        "Error: DIGITSERVE_MAX_BATCH is '0'; it must be an integer from 1 to 100000.",
    ]
    assert done.stdout == ""


def test_a_reload_reports_a_bad_value_and_goes_on(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("GUNICORN_ERRORLOG", str(tmp_path / "gone" / "error.log"))
    monkeypatch.setattr(environment._Started, "pid", os.getpid())  # this process has started
    environment.check()  # no SystemExit: a HUP must not stop a serving master
    assert "GUNICORN_ERRORLOG" in capsys.readouterr().err
    monkeypatch.setattr(environment._Started, "pid", 0)
    with pytest.raises(SystemExit) as stop:
        environment.check()
    assert stop.value.code == environment.REFUSED


def test_readme_lists_every_variable() -> None:
    section = (REPO_ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    section = section.split("\n## ", 1)[0]
    # A row may shorten a second name: "`GUNICORN_MAX_REQUESTS` / `_JITTER`".
    named = set(re.findall(r"`(GUNICORN_[A-Z_]+)`", section)) | {
        base + suffix for base, suffix in re.findall(r"`(GUNICORN_[A-Z_]+)` / `(_[A-Z_]+)`",
                                                     section)}
    assert set(environment.GUNICORN_RULES) <= named, set(environment.GUNICORN_RULES) - named
