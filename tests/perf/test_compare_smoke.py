"""Smoke test of the side-by-side comparison (perf.compare), run as a subprocess."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.perf.tool import run_short_round
from tests.support import REPO_ROOT


@pytest.mark.integration
def test_compare_loads_every_stack_and_prices_both_fastapi_references(tmp_path: Path) -> None:
    """One short round over all four servers: no errors, CPU per request, every ratio."""
    stdout, report = run_short_round("perf.compare", tmp_path / "compare.json", timeout_s=120)
    assert {row["target"] for row in report["rows"]} == {
        "digitserve /predict", "digitserve /livez", "fastapi /predict",
        "fastapi-async /predict", "minimal /predict"}
    for row in report["rows"]:
        assert row["errors"] == 0 and row["rps"] > 0, row
        assert row["server_us_per_req"] > 0, row
        assert row["idle_workers"] >= 0, row
    named = [what for what, _, _ in report["ratios"]]
    assert "server CPU per /predict, digitserve / FastAPI (def views)" in named
    assert "server CPU per /predict, digitserve / FastAPI (async def views)" in named
    assert set(report["memory"]) == {"digitserve", "fastapi", "fastapi-async", "minimal"}
    assert "| fastapi-async /predict |" in stdout
    assert "rounds with an idle worker |" in stdout


def test_both_fastapi_references_do_digitserves_work() -> None:
    """def and async def apps route to the same work: pydantic's checks, the model's answer."""
    import pydantic

    from perf import refapp

    endpoints = {app: {route.path: getattr(route, "endpoint", None) for route in app.routes}
                 for app in (refapp.app, refapp.async_app)}
    assert endpoints[refapp.app]["/predict"] is refapp.predict
    assert endpoints[refapp.async_app]["/predict"] is refapp.predict_on_loop
    assert endpoints[refapp.async_app]["/predict/batch"] is refapp.predict_batch_on_loop
    refapp.state["model"] = refapp.Model(refapp.MODEL_PATH, 1)
    try:
        body = refapp.PredictRequest(**json.loads((REPO_ROOT / "examples" / "digit.json")
                                                 .read_text()))
        plain = refapp.predict(body)
        on_loop = asyncio.run(refapp.predict_on_loop(body))
    finally:
        refapp.state.clear()
    assert plain == on_loop
    assert plain.prediction == 9 and plain.confidence == max(plain.probabilities) > 0.99
    with pytest.raises(pydantic.ValidationError):
        refapp.PredictRequest(data=[2.0] * 784)


def test_a_worker_that_got_no_connection_counts_as_idle() -> None:
    """Only workers count (not the master, nor a helper); one under 5% of the CPU is idle."""
    from perf.sampling import idle_workers

    before = {1: 10.0, 2: 3.0, 3: 4.0, 5: 0.0}
    assert idle_workers(before, {1: 10.0, 2: 7.5, 3: 8.4, 5: 0.0}, workers={2, 3}) == 0
    assert idle_workers(before, {1: 10.0, 2: 8.6, 3: 4.01, 5: 0.0}, workers={2, 3}) == 1
    assert idle_workers(before, {1: 10.0, 2: 8.6, 3: 4.01, 4: 0.0}, workers={2, 3, 4}) == 2
