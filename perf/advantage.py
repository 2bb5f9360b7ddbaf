"""Find a config that measured more req/s only because the load generator spent less on it."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def generator_only(other: Row, mine: Row) -> bool:
    """Say whether `other` beat `mine` (the same users level) on req/s only thanks to the client.

    All of: other served more req/s; the server's CPU per request was not lower there (so the
    server did not do better); the generator's CPU per request was lower (it did); and other's
    workers keep connections open (sync workers close every one, so a client saves nothing).
    """
    return (other["worker_class"] != "sync"
            and other["users"] == mine["users"]
            and other["rps"] > mine["rps"]
            and other["server_us_per_req"] >= mine["server_us_per_req"]
            and other["gen_us_per_req"] < mine["gen_us_per_req"])


def clean(row: Row, slo_p99_ms: float) -> bool:
    """Say whether a cell's figures can be compared: quiet, no failures, p99 within budget."""
    return not row["noisy"] and not row["failures"] and row["p99_ms"] <= slo_p99_ms


def generator_advantage(chosen: Row, summary: list[Row], slo_p99_ms: float) -> str:
    """Return the sentence naming the config that measured most only thanks to the generator,
    compared with the chosen config at the same users level; '' when the figures show none."""
    mine = {row["users"]: row for row in summary
            if row["config"] == chosen["config"] and clean(row, slo_p99_ms)}
    found = [(row, mine[row["users"]]) for row in summary
             if row["config"] != chosen["config"] and row["users"] in mine
             and clean(row, slo_p99_ms) and generator_only(row, mine[row["users"]])]
    if not found:
        return ""
    other, base = max(found, key=lambda pair: pair[0]["rps"])
    return (f"{other['config']} measured more ({other['rps']:.0f} against {base['rps']:.0f} "
            f"req/s for {base['config']}, both with {other['users']} users) only because the "
            f"generator spent less on it: {other['gen_us_per_req']:.0f} against "
            f"{base['gen_us_per_req']:.0f} us per request, on connections its "
            f"{other['worker_class']} workers keep open. The server paid "
            f"{other['server_us_per_req']:.0f} us per request there against "
            f"{base['server_us_per_req']:.0f}: the advantage is the generator's, not the "
            "server's.")
