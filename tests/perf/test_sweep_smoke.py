"""Smoke tests of the worker-count sweep, run as a subprocess (Locust must not enter pytest)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ("summary.csv", "summary.json", "report.md", "rounds.csv")
CHARTS = ["server_cpu_per_request.png", "throughput_vs_workers.png", "latency_vs_workers.png",
          "throughput_vs_p99.png"]


def run_sweep(out: Path, *args: str) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """Run `python -m perf.sweep args --out out`; check every output file is complete.

    :returns: summary.json, summary.csv's rows and report.md.
    """
    done = subprocess.run([sys.executable, "-m", "perf.sweep", *args, "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    document = json.loads((out / "summary.json").read_text())
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert float(row["rps"]) > 0, row
        assert int(row["requests"]) > 0 and int(row["failures"]) == 0, row
        assert float(row["server_us_per_req"]) > 0, row
        assert float(row["foreign_cpu_pct"]) >= 0, row
        assert 0 <= int(row["noisy_runs"]) <= int(row["runs"]), row
        assert 0 <= int(row["idle_worker_rounds"]) <= int(row["rounds"]), row
    per_run = "*.wrk.json" if document["options"]["generator"] == "wrk" else "*_stats.csv"
    assert len(list((out / "raw").glob(per_run))) == sum(int(r["runs"]) for r in rows)
    assert document["charts"] == CHARTS
    for name in CHARTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, name
    report = (out / "report.md").read_text()
    assert report.startswith("# digitserve worker-count sweep\n\n## Setting to use\n\n")
    assert "| foreign CPU % | noisy runs | rounds with an idle worker |" in report
    assert "locust" not in sys.modules  # Locust ran only in the subprocess
    return document, rows, report


@pytest.mark.integration
def test_quick_sweep_recommends_a_setting_unless_the_machine_was_busy(tmp_path: Path) -> None:
    """--quick's cells and load for one round: only noise (other processes' CPU) may keep the
    report from opening with the setting to use."""
    document, rows, report = run_sweep(tmp_path / "sweep", "--quick", "--repeat", "1",
                                       "--duration", "4")
    assert sorted(int(r["workers"]) for r in rows) == sorted(document["options"]["workers"])
    noisy = sum(int(row["noisy_runs"]) for row in rows)
    choice = document["recommendation"]
    if choice["config"] is None:
        assert noisy > 0, f"a quiet machine and no recommendation: {choice['why']}"
        assert choice["why"].startswith("No recommendation") and "noisy" in choice["why"]
    else:
        assert re.fullmatch(r"GUNICORN_WORKERS=\d+", choice["setting"]), choice
        assert f"```bash\n{choice['setting']} gunicorn -c gunicorn.conf.py wsgi:app\n```" in report
        assert choice["sureness"].startswith(("**Firm**", "**Tentative**"))
        assert f"{noisy} of " in choice["sureness"]


@pytest.mark.integration
def test_a_locust_sweep_writes_a_complete_report(tmp_path: Path) -> None:
    """Two configs x one light users level with Locust: every file, Locust's CSVs per run."""
    document, rows, _ = run_sweep(tmp_path / "sweep", "--quick", "--generator", "locust",
                                  "--workers", "1,2", "--users", "3", "--duration", "3",
                                  "--repeat", "1", "--noisy-retries", "0")
    assert sorted((int(r["workers"]), int(r["users"])) for r in rows) == [(1, 3), (2, 3)]
    assert document["options"]["generator"] == "locust"
    assert document["recommendation"]["why"]
