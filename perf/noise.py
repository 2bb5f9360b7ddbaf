"""Foreign CPU: what other processes took from the machine around a run, and when that spoils it."""

from __future__ import annotations

from typing import Any

from perf.sampling import Sample

# Of one core (100 = one core). Quiet runs here show 0-4: kernel work charged to neither side.
# A run above it lost a sixth of a core or more to other processes, at the server's expense.
NOISY_PCT = 15.0


def foreign_cpu_pct(first: Sample, last: Sample, ours_pct: float) -> float:
    """Return the machine's CPU % between two samples that neither the server and the generator
    (`ours_pct` together) nor this process (the sampler) used: other processes, the kernel."""
    span = max(last.t - first.t, 1e-9)
    machine = 100 * (last.machine_busy_s - first.machine_busy_s) / span
    own = 100 * (last.own_s - first.own_s) / span
    return max(machine - ours_pct - own, 0.0)


def is_noisy(row: dict[str, Any]) -> bool:
    """Say whether other processes took more than NOISY_PCT of a core during the run.

    The reading just before it (`idle_cpu_pct`) only decides when to start: a run whose own
    reading is quiet was not disturbed, whatever ran before it.
    """
    return bool(row["foreign_cpu_pct"] > NOISY_PCT)


def describe(summary: list[dict[str, Any]]) -> str:
    """Say how much foreign CPU the runs saw, how many were noisy, and the rule."""
    runs = sum(r["runs"] for r in summary)
    noisy = sum(r["noisy_runs"] for r in summary)
    worst = max((r["foreign_cpu_max"] for r in summary), default=0.0)
    used = ", none of them used for the choice" if noisy else ""
    return (f"Foreign CPU: at most {worst:.0f}% of a core in a run; {noisy} of {runs} runs "
            f"noisy{used} (a run is noisy when processes other than the server, the generator "
            f"and the sweep used more than {NOISY_PCT:g}% of one core during it).")
