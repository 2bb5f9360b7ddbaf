"""perf.gate as CI runs it, in a subprocess (Locust stays out of pytest): verdicts, exit codes."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO_ROOT


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perf.gate", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def verdicts(stdout: str) -> dict[str, tuple[str, str, str]]:
    """Return the gate's verdict table: budget name -> (limit, measured, verdict)."""
    rows = [line.strip("|").split("|") for line in stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| budget |")]
    return {cells[0].strip(): tuple(cell.strip() for cell in cells[1:]) for cells in rows}


@pytest.mark.integration
def test_a_broken_budget_exits_1_naming_it() -> None:
    # An impossible ratio: /predict cannot be 5 times as fast as /livez. Under machine load
    # another budget (p99) may break too: the test asks that this one is among those named.
    done = gate("--duration", "3", "--ratio-seconds", "1", "--min-predict-livez-ratio", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    table = verdicts(done.stdout)
    assert set(table) == {"failures (mixed load)", "p99 ms (mixed load)",
                          "/predict req/s / /livez req/s"}, done.stdout
    limit, measured, verdict = table["/predict req/s / /livez req/s"]
    assert (limit, verdict) == (">= 5", "BROKEN") and 0 < float(measured) < 5
    assert all(v in ("ok", "BROKEN") for _, _, v in table.values()), done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("perf.gate: budget broken: "), done.stderr
    named = last.removeprefix("perf.gate: budget broken: ").split("; ")
    assert "/predict req/s / /livez req/s" in named
    # The last line names exactly the budgets the table calls broken, whatever else broke.
    assert sorted(named) == sorted(name for name, (_, _, v) in table.items() if v == "BROKEN")


@pytest.mark.parametrize("args", [["--duration", "0"], ["--duration", "40"],
                                  ["--max-p99-ms", "soon"], ["--no-such-flag"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    done = gate(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "usage: python -m perf.gate" in done.stderr


def test_an_incomplete_budgets_file_exits_2(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("max_failures = 0\nmax_p99_ms = 'fast'\n")
    done = gate("--budgets", str(budgets))
    assert done.returncode == 2
    assert "missing or not a number: max_p99_ms, min_predict_livez_ratio" in done.stderr


def test_the_committed_budgets_are_complete() -> None:
    budgets = tomllib.loads((REPO_ROOT / "perf" / "budgets.toml").read_text())
    assert budgets["max_failures"] == 0
    assert budgets["max_p99_ms"] > 0 and 0 < budgets["min_predict_livez_ratio"] < 1
