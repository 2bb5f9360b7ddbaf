"""gunicorn.conf.py checks every GUNICORN_* variable; a bad value stops it with a message."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CONFIG = REPO_ROOT / "gunicorn.conf.py"
# Runs the config once per case, in one process: {case: the SystemExit message, or None}.
RUNNER = """
import json, os, runpy, sys
results = {}
for case, env in json.load(sys.stdin).items():
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        runpy.run_path("gunicorn.conf.py")
        results[case] = None
    except SystemExit as stop:
        results[case] = str(stop.code)
    finally:
        os.environ.clear()
        os.environ.update(saved)
print(json.dumps(results))
"""
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
]


def names_used() -> tuple[set[str], set[str]]:
    """Return the GUNICORN_* names in gunicorn.conf.py's table of rules, and those elsewhere."""
    tree = ast.parse(CONFIG.read_text())
    table = next(node.value for node in ast.walk(tree) if isinstance(node, ast.AnnAssign)
                 and isinstance(node.target, ast.Name) and node.target.id == "_ACCEPTED")
    assert isinstance(table, ast.Dict)
    keys = [key for key in table.keys if isinstance(key, ast.Constant)]
    elsewhere = {node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and re.fullmatch(r"GUNICORN_[A-Z_]+", node.value)
                 and not any(node is key for key in keys)}
    return {key.value for key in keys}, elsewhere


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Run the config with each BAD and GOOD value alone; return what each one did."""
    tmp = tmp_path_factory.mktemp("conf")
    cases = {f"{name}={value}": {name: value.format(tmp=tmp)} for name, value in BAD + GOOD}
    env = {key: value for key, value in os.environ.items() if not key.startswith("GUNICORN_")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")  # no temporary directory made
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(cases), env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True)
    verdicts: dict[str, str | None] = json.loads(done.stdout)
    return verdicts


def test_every_variable_read_has_a_rule() -> None:
    ruled, read = names_used()
    assert read == ruled


def test_every_rule_is_tested() -> None:
    ruled, _ = names_used()
    assert {name for name, _ in BAD} | {name for name, _ in GOOD} == ruled


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_value_stops_with_a_message(verdicts: dict[str, str | None], name: str,
                                        value: str) -> None:
    message = verdicts[f"{name}={value}"]
    assert message is not None, "accepted"
    assert message.startswith(f"Error: {name} is {value!r}; it must be "), message
    assert "\n" not in message


@pytest.mark.parametrize(("name", "value"), GOOD)
def test_good_value_is_accepted(verdicts: dict[str, str | None], name: str, value: str) -> None:
    assert verdicts[f"{name}={value}"] is None


def test_gunicorn_prints_every_bad_value_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "GUNICORN_WORKERS": "two",
           "GUNICORN_LOGLEVEL": "loud", "GUNICORN_BIND": "127.0.0.1:0"}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                           "wsgi:app"], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: GUNICORN_WORKERS is 'two'; it must be a whole number, 1 or more.",
        "Error: GUNICORN_LOGLEVEL is 'loud'; it must be one of 'debug', 'info', 'warning', "
        "'error', 'critical'.",
    ]
    assert done.stdout == ""


def test_readme_lists_every_variable() -> None:
    section = (REPO_ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    section = section.split("\n## ", 1)[0]
    # A row may shorten a second name: "`GUNICORN_MAX_REQUESTS` / `_JITTER`".
    named = set(re.findall(r"`(GUNICORN_[A-Z_]+)`", section)) | {
        base + suffix for base, suffix in re.findall(r"`(GUNICORN_[A-Z_]+)` / `(_[A-Z_]+)`",
                                                     section)}
    ruled, _ = names_used()
    assert ruled <= named, ruled - named
