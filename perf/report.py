"""Turn sweep rows into medians, a recommendation, summary.csv/json, report.md and the charts."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

from perf import charts
from perf import overhead
from perf import tables
from perf.recommend import recommend

SPREAD_KEYS = ("rps", "images_per_s", "server_us_per_req")
SUM_KEYS = ("requests", "failures")
TEXT_KEYS = ("config", "variant", "workers", "worker_class", "threads", "ort_threads",
             "user_class", "users", "cpus", "machine_cpus", "model_sha256")


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Collapse the runs of each config x users cell into medians, with the spread.

    Noisy runs are left out when the cell has a quiet one; a cell with only noisy runs keeps
    them and is marked `noisy` (the recommendation then ignores it).
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["config"], row["users"]), []).append(row)
    summary = []
    for runs in groups.values():
        quiet = [r for r in runs if not r.get("noisy", False)]
        cell = quiet or runs
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
        out["runs"] = len(runs)
        out["noisy_runs"] = len(runs) - len(quiet)
        out["noisy"] = not quiet
        out["foreign_cpu_max"] = max(r["foreign_cpu_pct"] for r in runs)
        out["idle_worker_rounds"] = sum(r.get("idle_workers", 0) > 0 for r in cell)
        out["generator_bound"] = out["gen_peak_proc_pct"] > 90.0
        out["projected_rps"] = projected_rps(out)
        out["saturated"] = saturation(out)
        summary.append(out)
    return summary


def saturation(row: dict[str, Any]) -> str:
    """Say which side ran out of CPU in a cell: generator, server, machine (both together) or -."""
    server_cores = min(row["workers"] * max(row["ort_threads"], 1), row["cpus"])
    if row["generator_bound"]:
        return "generator"
    if row["server_cpu_pct"] >= 90 * server_cores:
        return "server"
    # Our side only: CPU that other processes took is noise, not load.
    if row["machine_cpu_pct"] - row["foreign_cpu_pct"] >= 85 * row["machine_cpus"]:
        return "machine"
    return "-"


def projected_rps(row: dict[str, Any]) -> float:
    """Return what the server would sustain with the CPUs to itself: the cores its workers can
    use (one per worker, for the GIL; at most the CPUs) times its requests/s per core."""
    usable = min(row["workers"] * max(row["ort_threads"], 1), row["cpus"])
    return float(usable * row["server_rps_per_core"])


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
    pngs = charts.write_charts(out, summary, options["slo_p99_ms"], choice.chosen)
    chosen = choice.chosen or {}
    document = {"meta": meta, "options": {k: str(v) if isinstance(v, Path) else v
                                          for k, v in options.items()},
                "summary": summary, "recommendation": {
                    "config": chosen.get("config"), "users": chosen.get("users"),
                    "setting": choice.setting, "why": choice.why, "sureness": choice.sureness},
                "overhead": ratio, "charts": pngs}
    (out / "summary.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "report.md").write_text(tables.markdown(summary, choice, ratio, meta, options, pngs))
