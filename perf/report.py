"""Turn sweep rows into medians, a recommendation, summary.csv/json, report.md and the charts."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perf import charts
from perf import overhead
from perf import tables

SPREAD_KEYS = ("rps", "images_per_s")
SUM_KEYS = ("requests", "failures")
TEXT_KEYS = ("config", "variant", "workers", "worker_class", "threads", "ort_threads",
             "user_class", "users", "cpus", "machine_cpus", "model_sha256")
IDLE_NOISY_PCT = 20.0  # the machine was this busy just before the cell, with our server idle
OTHER_NOISY_PCT = 60.0  # CPU not charged to server or Locust during the cell (kernel, others)
WITHIN = 0.05  # the smallest config within 5% of the best throughput wins


@dataclass(frozen=True)
class Recommendation:
    """The chosen cell (None if no cell qualified), the best one, and why, in words."""

    chosen: dict[str, Any] | None
    best: dict[str, Any] | None
    why: str


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Collapse the rounds of each config x users cell into medians, with the spread."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["config"], row["users"]), []).append(row)
    summary = []
    for cell in groups.values():
        out = {key: cell[0][key] for key in TEXT_KEYS if key in cell[0]}
        for key, value in cell[0].items():
            if key in SUM_KEYS:
                out[key] = sum(r[key] for r in cell)
            elif isinstance(value, float) and key not in out:
                out[key] = statistics.median(r[key] for r in cell)
        for key in SPREAD_KEYS:
            out[f"{key}_min"] = min(r[key] for r in cell)
            out[f"{key}_max"] = max(r[key] for r in cell)
        out["rps_spread_pct"] = 100 * (out["rps_max"] - out["rps_min"]) / max(out["rps"], 1e-9)
        out["error_ratio"] = out["failures"] / max(out["requests"], 1)
        out["rounds"] = len(cell)
        out["idle_worker_rounds"] = sum(r.get("idle_workers", 0) > 0 for r in cell)
        out["generator_bound"] = out["gen_peak_proc_pct"] > 90.0
        out["projected_rps"] = projected_rps(out)
        out["saturated"] = saturation(out)
        summary.append(out)
    return summary


def saturation(row: dict[str, Any]) -> str:
    """Say which side ran out of CPU in a cell (generator, server, machine or -), and whether
    other processes on the machine took a noticeable share of it (`, noisy`)."""
    server_cores = min(row["workers"] * max(row["ort_threads"], 1), row["cpus"])
    if row["generator_bound"]:
        verdict = "generator"
    elif row["server_cpu_pct"] >= 90 * server_cores:
        verdict = "server"
    elif row["machine_cpu_pct"] >= 85 * row["machine_cpus"]:
        verdict = "machine"
    else:
        verdict = "-"
    noisy = (row.get("idle_cpu_pct", 0.0) > IDLE_NOISY_PCT
             or row["other_cpu_pct"] > OTHER_NOISY_PCT)
    return verdict + (", noisy" if noisy else "")


def projected_rps(row: dict[str, Any]) -> float:
    """Return what the server would sustain with the CPUs to itself: the cores its workers can
    use (one per worker, for the GIL; at most the CPUs) times its requests/s per core."""
    usable = min(row["workers"] * max(row["ort_threads"], 1), row["cpus"])
    return float(usable * row["server_rps_per_core"])


def recommend(summary: list[dict[str, Any]], slo_p99_ms: float) -> Recommendation:
    """Pick the config the server itself does best, from cells where the server set the pace.

    Eligible cells: no failures, p99 within the budget, the generator under 90% CPU, and the
    server or the machine out of CPU (a lightly loaded cell says nothing about capacity).
    Each config is judged by its server CPU per request in its best such cell, projected to
    the cores its workers can use; the smallest config within 5% of the best wins.
    """
    ok = [r for r in summary
          if r["failures"] == 0 and r["p99_ms"] <= slo_p99_ms and not r["generator_bound"]]
    loaded = [r for r in ok if r["saturated"].split(",")[0] in ("server", "machine")]
    dropped = sum(r["generator_bound"] for r in summary)
    if not loaded:
        return Recommendation(None, None, f"No cell had p99 <= {slo_p99_ms:g} ms with no errors, "
                              f"a generator under 90% CPU ({dropped} cells were generator-bound) "
                              "and the server out of CPU: try more users, a larger --slo-p99-ms, "
                              "or --generator wrk.")
    per_config: dict[str, dict[str, Any]] = {}
    for row in loaded:
        if row["projected_rps"] > per_config.get(row["config"], {"projected_rps": -1.0})[
                "projected_rps"]:
            per_config[row["config"]] = row
    best = max(per_config.values(), key=lambda r: r["projected_rps"])
    close = [r for r in per_config.values()
             if r["projected_rps"] >= (1 - WITHIN) * best["projected_rps"]]
    chosen = min(close, key=lambda r: (r["workers"] * r["threads"], r["rss_total_mb"]))
    measured = [r for r in ok if r["config"] != chosen["config"] and r["rps"] > chosen["rps"]]
    return Recommendation(chosen, best, explain(chosen, best, per_config, measured, slo_p99_ms,
                                                dropped))


def explain(chosen: dict[str, Any], best: dict[str, Any], per_config: dict[str, dict[str, Any]],
            measured: list[dict[str, Any]], slo: float, dropped: int) -> str:
    """Say in words why the chosen config wins, and what only the generator made look better."""
    cpus = chosen["cpus"]
    text = (f"**{chosen['config']}**: {chosen['server_us_per_req']:.0f} us of server CPU per "
            f"request ({chosen['server_rps_per_core']:.0f} req/s per server core, about "
            f"{chosen['projected_rps']:.0f} req/s on {cpus} CPUs with the generator elsewhere); "
            f"measured here {chosen['rps']:.0f} req/s at p99 {chosen['p99_ms']:.1f} ms with "
            f"{chosen['users']} users, {chosen['rss_total_mb']:.0f} MB in workers "
            f"({chosen['private_per_worker_mb']:.1f} MB private each).")
    if best is not chosen:
        text += (f" {best['config']} projects {best['projected_rps']:.0f} req/s, within "
                 f"{WITHIN:.0%}, with more workers or threads.")
    others = sorted((r for r in per_config.values() if r is not chosen and r is not best),
                    key=lambda r: -r["projected_rps"])
    for other in others[:3]:
        text += (f" {other['config']}: {other['server_us_per_req']:.0f} us/request "
                 f"({100 * other['projected_rps'] / chosen['projected_rps']:.0f}%).")
    louder = max(measured, key=lambda r: r["rps"], default=None)
    if louder is not None and louder["gen_us_per_req"] < chosen["gen_us_per_req"]:
        text += (f" {louder['config']} measured more ({louder['rps']:.0f} req/s with "
                 f"{louder['users']} users) only because the generator spent "
                 f"{louder['gen_us_per_req']:.0f} instead of {chosen['gen_us_per_req']:.0f} us "
                 f"per request on it: the server paid {louder['server_us_per_req']:.0f} us per "
                 "request there. That advantage belongs to the generator (a client that keeps "
                 "connections open), not to the server.")
    if dropped:
        text += f" {dropped} generator-bound cell(s) were not considered."
    return text + f" Budget: p99 <= {slo:g} ms, no errors."


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows (dicts with the same keys) as CSV."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def write_all(out: Path, rows: list[dict[str, Any]], overhead_rows: list[dict[str, Any]],
              options: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write rounds.csv, summary.csv, summary.json, the charts and report.md into out."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    choice = recommend(summary, options["slo_p99_ms"])
    ratio = overhead.ratio(overhead_rows)
    write_csv(out / "rounds.csv", rows + overhead_rows)
    write_csv(out / "summary.csv", summary)
    pngs = charts.write_charts(out, summary, options["slo_p99_ms"])
    document = {"meta": meta, "options": {k: str(v) if isinstance(v, Path) else v
                                          for k, v in options.items()},
                "summary": summary, "recommendation": {"config": (choice.chosen or {}).get(
                    "config"), "users": (choice.chosen or {}).get("users"), "why": choice.why},
                "overhead": ratio, "charts": pngs}
    (out / "summary.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "report.md").write_text(tables.markdown(summary, choice.why, ratio, meta, options,
                                                   pngs))
