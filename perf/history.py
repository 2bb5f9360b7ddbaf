"""Read Locust's `<prefix>_stats_history.csv`: when the users ran, and the requests by then."""

from __future__ import annotations

import csv
from itertools import pairwise
from pathlib import Path

# One row a second: (unix time s, users running, requests made so far).
History = list[tuple[float, int, int]]


def read_history(csv_prefix: Path) -> History:
    """Return the Aggregated rows of `<prefix>_stats_history.csv`, oldest first."""
    with open(f"{csv_prefix}_stats_history.csv", newline="") as handle:
        return [(float(row["Timestamp"]), int(row["User Count"] or 0),
                 int(row["Total Request Count"] or 0))
                for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]


def load_window(history: History) -> tuple[float, float]:
    """Return the wall-clock span in which the users ran (0, 0 if they never did)."""
    stamps = [t for t, users, _ in history if users > 0]
    if not stamps:
        return 0.0, 0.0
    # Whole-second stamps: skip the ramp's second when the run is long enough to spare it.
    return (stamps[0] + 1.0, stamps[-1]) if len(stamps) > 3 else (stamps[0], stamps[-1] + 1)


def steady_rps(history: History, users: int) -> float:
    """Return req/s once every user had started (0.0 if that phase was under 2 s long)."""
    full = [(t, total) for t, running, total in history if running >= users]
    if len(full) < 3 or full[-1][0] - full[0][0] < 2:
        return 0.0
    return (full[-1][1] - full[0][1]) / (full[-1][0] - full[0][0])


def requests_at(history: History, when: float) -> float:
    """Return the requests made by `when`, interpolated between the whole-second rows."""
    if not history or when <= history[0][0]:
        return float(history[0][2]) if history else 0.0
    for (t0, _, n0), (t1, _, n1) in pairwise(history):
        if when <= t1:
            return n0 + (n1 - n0) * (when - t0) / max(t1 - t0, 1e-9)
    return float(history[-1][2])
