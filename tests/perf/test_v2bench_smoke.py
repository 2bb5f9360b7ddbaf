"""Smoke test of the Open Inference Protocol benchmark (perf.v2bench), run as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import system_command
from tests.support import REPO_ROOT


@pytest.mark.integration
def test_v2bench_loads_every_way_in_without_errors(tmp_path: Path) -> None:
    """One short round: each body answers right, wrk sends v2's header, figures come out."""
    system_command("wrk")
    out = tmp_path / "v2bench.json"
    done = subprocess.run([sys.executable, "-m", "perf.v2bench", "--rounds", "1", "--duration",
                           "1", "--connections", "2", "--quiet-wait", "0", "--json", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [row["target"] for row in rows] == ["/predict/batch x32", "v2 binary x32",
                                               "v2 JSON x32"]
    for row in rows:
        assert row["errors"] == 0 and row["images_per_s"] > 0, row
        assert row["server_us_per_image"] > 0, row
    assert "| v2 binary x32 |" in done.stdout
