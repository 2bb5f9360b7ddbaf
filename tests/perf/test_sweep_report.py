"""The sweep's report logic on made-up rows: noise, the recommendation, the generator sentence."""

from __future__ import annotations

from typing import Any

import pytest

from perf.advantage import generator_advantage
from perf.noise import NOISY_PCT
from perf.noise import is_noisy
from perf.recommend import recommend
from perf.recommend import setting
from perf.report import summarize

SLO = 50.0


def run(config: str, users: int = 64, *, rps: float = 3000.0, server_us: float = 400.0,
        gen_us: float = 200.0, p99: float = 20.0, foreign: float = 2.0, before: float = 3.0,
        round_no: int = 1, failures: int = 0, **extra: float) -> dict[str, Any]:
    """Return one run's row as perf.sweep writes it, for `2w sync` or `2w gthread x2`-like labels.

    The server fills both CPUs (so the cell counts as loaded) unless it is a 1-worker config.
    """
    workers = int(config.split("w", 1)[0])
    gthread = "gthread" in config
    rps, server_us, gen_us, p99 = float(rps), float(server_us), float(gen_us), float(p99)
    row = {"config": config, "variant": config.split(" ", 1)[1], "workers": workers,
           "worker_class": "gthread" if gthread else "sync", "threads": 2 if gthread else 1,
           "ort_threads": 1, "user_class": "CapacityUser", "users": users, "cpus": 2,
           "machine_cpus": 2, "requests": int(rps * 5), "failures": failures,
           "rps": rps, "images_per_s": rps, "steady_rps": rps, "server_us_per_req": server_us,
           "server_rps_per_core": 1e6 / server_us, "server_cpu_pct": min(workers, 2) * 95.0,
           "machine_cpu_pct": 190.0 + foreign, "foreign_cpu_pct": foreign,
           "idle_cpu_pct": before, "gen_us_per_req": gen_us, "gen_cpu_pct": 60.0,
           "gen_peak_proc_pct": 60.0, "p50_ms": 5.0, "p95_ms": p99 / 2, "p99_ms": p99,
           "max_ms": p99 * 1.5, "avg_ms": 6.0, "rss_per_worker_mb": 75.0,
           "rss_total_mb": 75.0 * workers, "pss_per_worker_mb": 40.0,
           "private_per_worker_mb": 20.0, "idle_workers": 0, "round": round_no, **extra}
    row["noisy"] = is_noisy(row)
    return row


def test_46_percent_of_a_core_taken_by_others_is_noisy() -> None:
    assert NOISY_PCT < 46
    assert is_noisy(run("2w sync", foreign=46.0))
    assert not is_noisy(run("2w sync", foreign=4.0))
    # Busy just before, quiet during: the run itself was not disturbed.
    assert not is_noisy(run("2w sync", foreign=4.0, before=46.0))


def test_a_noisy_cell_at_the_budget_is_not_recommended() -> None:
    """The reduced run's case: the only loaded cell sat at exactly 50 ms with 46% foreign CPU."""
    summary = summarize([run("1w sync", rps=2500, server_us=390, p99=10, round_no=1),
                         run("2w sync", rps=3300, server_us=395, p99=50, foreign=46.0)])
    choice = recommend(summary, SLO)
    assert choice.chosen is not None and choice.chosen["config"] == "1w sync"
    assert "1 of 2 runs noisy" in choice.sureness


def test_noisy_runs_leave_the_medians_and_only_noisy_cells_leave_the_choice() -> None:
    summary = summarize([run("2w sync", rps=3300, server_us=400, round_no=1),
                         run("2w sync", rps=900, server_us=1900, foreign=90.0, round_no=2)])
    (cell,) = summary
    assert (cell["rps"], cell["server_us_per_req"], cell["rounds"]) == (3300, 400, 1)
    assert (cell["noisy_runs"], cell["runs"], cell["noisy"]) == (1, 2, False)
    assert cell["foreign_cpu_max"] == 90.0

    only_noisy = recommend(summarize([run("2w sync", foreign=46.0)]), SLO)
    assert only_noisy.chosen is None and only_noisy.setting == ""
    assert "1 only noisy runs" in only_noisy.why and "quiet" in only_noisy.why


def test_the_setting_names_every_variable_a_config_needs() -> None:
    assert setting(run("2w sync")) == "GUNICORN_WORKERS=2"
    assert setting(run("2w gthread x2")) == (
        "GUNICORN_WORKERS=2 GUNICORN_WORKER_CLASS=gthread GUNICORN_THREADS=2")
    assert setting({**run("2w sync"), "ort_threads": 2}) == (
        "GUNICORN_WORKERS=2 DIGITSERVE_ORT_THREADS=2")


def test_sureness_counts_rounds_and_spread() -> None:
    firm = recommend(summarize([run("2w sync", server_us=400, round_no=1),
                                run("2w sync", server_us=408, round_no=2)]), SLO)
    assert firm.sureness.startswith("**Firm**: 2 quiet round(s)")
    assert "400-408 us (2% spread)" in firm.sureness
    shaky = recommend(summarize([run("2w sync", server_us=400, round_no=1),
                                 run("2w sync", server_us=480, round_no=2)]), SLO)
    assert shaky.sureness.startswith("**Tentative**")


def test_a_config_with_more_cores_left_unjudged_makes_the_choice_tentative() -> None:
    """2 workers never loaded (a generator too weak for 2 cores): 1 worker is all that's left."""
    summary = summarize([
        run("1w sync", rps=2500, server_us=390, round_no=r) for r in (1, 2)] + [
        run("2w sync", rps=2600, server_us=420, round_no=r, server_cpu_pct=110.0,
            machine_cpu_pct=150.0) for r in (1, 2)])
    choice = recommend(summary, SLO)
    assert choice.chosen is not None and choice.setting == "GUNICORN_WORKERS=1"
    assert choice.sureness.startswith("**Tentative**")
    assert "Not judged (no usable cell): 2w sync (server not loaded)" in choice.sureness
    assert "2w sync could use more cores than 1w sync" in choice.sureness


@pytest.mark.parametrize(("gthread", "said"), [
    # More req/s, the server no cheaper, the generator cheaper: the client's advantage.
    ({"rps": 3900, "server_us": 417, "gen_us": 103}, True),
    ({"rps": 3900, "server_us": 400, "gen_us": 103}, True),  # the server paid the same
    # The server was cheaper there too: not the generator's doing alone.
    ({"rps": 3900, "server_us": 380, "gen_us": 103}, False),
    # The generator spent no less: nothing to say.
    ({"rps": 3900, "server_us": 417, "gen_us": 200}, False),
    # It did not serve more.
    ({"rps": 3200, "server_us": 417, "gen_us": 103}, False),
])
def test_the_generator_sentence_only_where_the_figures_show_it(gthread: dict[str, float],
                                                               said: bool) -> None:
    summary = summarize([run("2w sync", rps=3300, server_us=400, gen_us=192),
                         run("2w gthread x2", **gthread)])
    choice = recommend(summary, SLO)
    assert choice.chosen is not None and choice.chosen["config"] == "2w sync"
    sentence = generator_advantage(choice.chosen, summary, SLO)
    assert bool(sentence) is said
    assert ("only because the generator spent less" in choice.why) is said
    if said:
        assert sentence.startswith("2w gthread x2 measured more (3900 against 3300 req/s")


def test_never_said_of_sync_workers_nor_across_users_levels() -> None:
    """Sync workers close every connection: a client cannot save a connect on them."""
    summary = summarize([run("2w sync", rps=4860, server_us=349, gen_us=59),
                         run("4w sync", rps=4951, server_us=349, gen_us=52)])
    chosen = next(r for r in summary if r["config"] == "2w sync")
    assert generator_advantage(chosen, summary, SLO) == ""

    summary = summarize([run("2w sync", 16, rps=2700, server_us=400, gen_us=225),
                         run("2w gthread x2", 64, rps=3900, server_us=417, gen_us=103)])
    chosen = next(r for r in summary if r["config"] == "2w sync")
    assert generator_advantage(chosen, summary, SLO) == ""


def test_noisy_or_failing_cells_are_not_compared() -> None:
    for spoilt in ({"foreign": 46.0}, {"failures": 3}, {"p99": 80.0}):
        summary = summarize([run("2w sync", rps=3300, server_us=400, gen_us=192),
                             run("2w gthread x2", rps=3900, server_us=417, gen_us=103,
                                 **spoilt)])
        chosen = next(r for r in summary if r["config"] == "2w sync")
        assert generator_advantage(chosen, summary, SLO) == "", spoilt
