"""Run one of perf/'s wrk-driven tools for a single short round, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.conftest import system_command
from tests.support import REPO_ROOT


def run_short_round(module: str, out: Path, timeout_s: float) -> tuple[str, dict[str, Any]]:
    """Run `python -m module` for one 1 s round on 2 connections; return its stdout and JSON.

    :raises AssertionError: if the tool exits with an error (its stderr's end is shown).
    """
    system_command("wrk")
    done = subprocess.run([sys.executable, "-m", module, "--rounds", "1", "--duration", "1",
                           "--connections", "2", "--quiet-wait", "0", "--json", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return done.stdout, report
