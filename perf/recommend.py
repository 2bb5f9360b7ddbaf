"""Choose the config to run from the sweep's summary rows, and say how sure the choice is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perf import noise
from perf.advantage import generator_advantage

Row = dict[str, Any]
WITHIN = 0.05  # the smallest config within 5% of the best projection wins
FIRM_SPREAD_PCT = 5.0  # server CPU per request varied less than this between quiet rounds


@dataclass(frozen=True)
class Recommendation:
    """The chosen cell (None if no cell qualified), the best one, why, and how sure."""

    chosen: Row | None
    best: Row | None
    why: str
    setting: str = ""
    sureness: str = ""


def setting(row: Row) -> str:
    """Return the environment that selects the row's config, e.g. `GUNICORN_WORKERS=2`."""
    env = f"GUNICORN_WORKERS={row['workers']}"
    if row["worker_class"] != "sync":
        env += f" GUNICORN_WORKER_CLASS={row['worker_class']} GUNICORN_THREADS={row['threads']}"
    return env + (f" DIGITSERVE_ORT_THREADS={row['ort_threads']}" if row["ort_threads"] != 1
                  else "")


def left_out(row: Row, slo_p99_ms: float) -> str | None:
    """Return why a cell says nothing about the server's capacity, or None if it does."""
    if row["failures"]:
        return "failed requests"
    if row["noisy"]:
        return "only noisy runs"
    if row["generator_bound"]:
        return "generator-bound"
    if row["p99_ms"] > slo_p99_ms:
        return f"p99 over {slo_p99_ms:g} ms"
    if row["saturated"] not in ("server", "machine"):
        return "server not loaded"
    return None


def recommend(summary: list[Row], slo_p99_ms: float) -> Recommendation:
    """Pick the config the server itself does best, from cells where the server set the pace.

    Eligible cells (see left_out): no failures, a quiet run, the generator under 90% CPU, p99
    within the budget, the server or the machine out of CPU. Each config is judged by its
    server CPU per request in its best such cell, projected to the cores its workers can use;
    the smallest config within 5% of the best wins.
    """
    reasons = {id(row): left_out(row, slo_p99_ms) for row in summary}
    loaded = [row for row in summary if reasons[id(row)] is None]
    if not loaded:
        return Recommendation(None, None, nothing_loaded([str(r) for r in reasons.values()],
                                                         slo_p99_ms))
    per_config: dict[str, Row] = {}
    for row in loaded:
        if row["projected_rps"] > per_config.get(row["config"], {"projected_rps": -1.0})[
                "projected_rps"]:
            per_config[row["config"]] = row
    best = max(per_config.values(), key=lambda r: r["projected_rps"])
    close = [r for r in per_config.values()
             if r["projected_rps"] >= (1 - WITHIN) * best["projected_rps"]]
    chosen = min(close, key=lambda r: (r["workers"] * r["threads"], r["rss_total_mb"]))
    why = explain(chosen, best, per_config)
    advantage = generator_advantage(chosen, summary, slo_p99_ms)
    dropped = sum(reason is not None for reason in reasons.values())
    why += f" {advantage}" if advantage else ""
    why += f" {dropped} cell(s) left out (see the table)." if dropped else ""
    unjudged: dict[str, Row] = {}
    for row in summary:
        if row["config"] not in per_config:
            unjudged.setdefault(row["config"], {**row, "reason": reasons[id(row)]})
    return Recommendation(chosen, best, why + f" Budget: p99 <= {slo_p99_ms:g} ms, no errors.",
                          setting(chosen), sureness(chosen, per_config, unjudged, summary))


HINTS = {"only noisy runs": "run again when the machine is quiet",
         "server not loaded": "load more (more users, or `--generator wrk`)",
         "generator-bound": "give the generator more CPU (`--generator wrk`, `--locust-processes`)",
         "failed requests": "see the failures in raw/"}


def nothing_loaded(reasons: list[str], slo_p99_ms: float) -> str:
    """Say why no cell could be used, counting each reason, and what to do about it."""
    counts = {reason: reasons.count(reason) for reason in sorted(set(reasons))}
    listed = ", ".join(f"{n} {reason}" for reason, n in counts.items())
    hints = [HINTS.get(reason, "fewer users or a larger `--slo-p99-ms`") for reason in counts]
    return (f"No recommendation: no cell had the server out of CPU with no errors, p99 <= "
            f"{slo_p99_ms:g} ms, a generator under 90% CPU and a quiet machine (cells: {listed}). "
            f"To get one: {'; '.join(dict.fromkeys(hints))}.")


def explain(chosen: Row, best: Row, per_config: dict[str, Row]) -> str:
    """Say in words why the chosen config wins, and how the others compare."""
    text = (f"**{chosen['config']}**: {chosen['server_us_per_req']:.0f} us of server CPU per "
            f"request ({chosen['server_rps_per_core']:.0f} req/s per server core, about "
            f"{chosen['projected_rps']:.0f} req/s on {chosen['cpus']} CPUs with the generator "
            f"elsewhere); measured here {chosen['rps']:.0f} req/s at p99 {chosen['p99_ms']:.1f} "
            f"ms with {chosen['users']} users, {chosen['rss_total_mb']:.0f} MB in workers "
            f"({chosen['private_per_worker_mb']:.1f} MB private each).")
    if best is not chosen:
        text += (f" {best['config']} projects {best['projected_rps']:.0f} req/s, within "
                 f"{WITHIN:.0%}, with more workers or threads.")
    others = sorted((r for r in per_config.values() if r is not chosen and r is not best),
                    key=lambda r: -r["projected_rps"])
    for other in others[:3]:
        text += (f" {other['config']}: {other['server_us_per_req']:.0f} us/request "
                 f"({100 * other['projected_rps'] / chosen['projected_rps']:.0f}%).")
    return text


def cores(row: Row) -> int:
    """Return the cores a config's workers can use (one per worker and onnxruntime thread)."""
    return int(min(row["workers"] * max(row["ort_threads"], 1), row["cpus"]))


def sureness(chosen: Row, per_config: dict[str, Row], unjudged: dict[str, Row],
             summary: list[Row]) -> str:
    """Say how sure the choice is: rounds, their spread, the runner-up, configs that could not
    be judged, the noise left out."""
    spread = 100 * (chosen["server_us_per_req_max"] - chosen["server_us_per_req_min"]) / max(
        chosen["server_us_per_req"], 1e-9)
    bigger = [name for name, row in unjudged.items() if cores(row) > cores(chosen)]
    firm = chosen["rounds"] >= 2 and spread <= FIRM_SPREAD_PCT and not bigger
    if chosen["rounds"] > 1:
        figures = (f"{chosen['server_us_per_req_min']:.0f}-{chosen['server_us_per_req_max']:.0f}"
                   f" us ({spread:.0f}% spread), req/s {chosen['rps_min']:.0f}-"
                   f"{chosen['rps_max']:.0f}")
    else:
        figures = f"{chosen['server_us_per_req']:.0f} us, req/s {chosen['rps']:.0f}"
    text = (f"**{'Firm' if firm else 'Tentative'}**: {chosen['rounds']} quiet round(s) of "
            f"{chosen['config']} at {chosen['users']} users, server CPU per request {figures}.")
    if chosen["rounds"] < 2:
        text += " Firm needs 2 or more quiet rounds: add `--repeat`."
    elif spread > FIRM_SPREAD_PCT:
        text += (f" Firm needs its rounds within {FIRM_SPREAD_PCT:g}% of each other: the "
                 "machine's speed varied between them (see the CPU probe below).")
    rivals = sorted((r for r in per_config.values() if r is not chosen),
                    key=lambda r: -r["projected_rps"])
    if rivals:
        share = 100 * rivals[0]["projected_rps"] / chosen["projected_rps"]
        text += f" Runner-up: {rivals[0]['config']} at {share:.0f}% of its projection."
    if unjudged:
        text += " Not judged (no usable cell): " + ", ".join(
            f"{name} ({row['reason']})" for name, row in unjudged.items()) + "."
    if bigger:
        text += (f" {', '.join(bigger)} could use more cores than {chosen['config']} and was "
                 "not judged: load more, or run again when the machine is quiet.")
    return f"{text} {noise.describe(summary)}"
