"""Smoke test of the worker-count sweep, run as a subprocess (Locust must not enter pytest)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ("summary.csv", "summary.json", "report.md", "rounds.csv")


@pytest.mark.integration
def test_quick_sweep_writes_a_complete_report(tmp_path: Path) -> None:
    """Run 2 configs x 1 users level for a few seconds; check every output file."""
    out = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "perf.sweep", "--quick", "--users", "3",
                           "--duration", "3", "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]

    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(r["workers"]), int(r["users"])) for r in rows) == [(1, 3), (2, 3)]
    for row in rows:
        assert float(row["rps"]) > 0, row
        assert int(row["requests"]) > 0 and int(row["failures"]) == 0, row
        assert float(row["server_us_per_req"]) > 0, row
        assert 0 <= int(row["idle_worker_rounds"]) <= int(row["rounds"]), row
    assert len(list((out / "raw").glob("*_stats.csv"))) == 2

    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["summary"]) == 2
    assert summary["recommendation"]["why"]
    assert len(summary["charts"]) == 3
    for name in summary["charts"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, name
    report = (out / "report.md").read_text()
    assert "| config | users |" in report and "| rounds with an idle worker |" in report
    assert "locust" not in sys.modules  # Locust ran only in the subprocess
