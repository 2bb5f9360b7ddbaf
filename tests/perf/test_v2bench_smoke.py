"""Smoke test of the Open Inference Protocol benchmark (perf.v2bench), run as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf.tool import run_short_round


@pytest.mark.integration
def test_v2bench_loads_every_way_in_without_errors(tmp_path: Path) -> None:
    """One short round: each body answers right, wrk sends v2's header, figures come out."""
    stdout, report = run_short_round("perf.v2bench", tmp_path / "v2bench.json", timeout_s=90)
    rows = report["rows"]
    assert [row["target"] for row in rows] == ["/predict/batch x32", "v2 binary x32",
                                               "v2 JSON x32"]
    for row in rows:
        assert row["errors"] == 0 and row["images_per_s"] > 0, row
        assert row["server_us_per_image"] > 0, row
    assert "| v2 binary x32 |" in stdout
