"""Write the sweep's report.md: machine, recommendation, the table, overhead, charts, notes."""

from __future__ import annotations

from typing import Any

from perf import noise
from perf.recommend import Recommendation
from perf.reportnotes import notes

OFFERED_WAIT_S = {"TypicalUser": 2.0, "StressUser": 0.3}  # mean of each class's between(a, b)
ROUNDED_ABOVE_MS = 100  # Locust keeps 2 significant digits for response times above this


def ms(value: float) -> str:
    """Format a latency; mark values Locust rounded to two significant digits with ~."""
    return f"~{value:.0f}" if value > ROUNDED_ABOVE_MS else f"{value:.0f}"


def table(summary: list[dict[str, Any]]) -> str:
    """Return the markdown table with one line per config x users cell."""
    batch = any(r["user_class"] == "BatchUser" for r in summary)
    wait = OFFERED_WAIT_S.get(summary[0]["user_class"]) if summary else None
    head = ["config", "users", "req/s (min-max)"] + (["images/s"] if batch else [])
    head += ["offered req/s", "steady req/s"] if wait else []
    head += ["p50 ms", "p95 ms", "p99 ms", "max ms", "failures", "server CPU %",
             "server us/req", "req/s per server core", "generator us/req", "generator CPU %",
             "MB/worker RSS/PSS/private", "foreign CPU %", "noisy runs",
             "rounds with an idle worker", "saturated"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(summary, key=lambda r: (r["variant"], r["workers"], r["users"])):
        cells = [r["config"], str(r["users"]),
                 f"{r['rps']:.0f} ({r['rps_min']:.0f}-{r['rps_max']:.0f})"]
        cells += [f"{r['images_per_s']:.0f}"] if batch else []
        cells += [f"{r['users'] / wait:.1f}", f"{r['steady_rps']:.1f}"] if wait else []
        cells += [ms(r["p50_ms"]), ms(r["p95_ms"]), ms(r["p99_ms"]), ms(r["max_ms"]),
                  f"{r['failures']} ({100 * r['error_ratio']:.2f}%)",
                  f"{r['server_cpu_pct']:.0f}", f"{r['server_us_per_req']:.0f}",
                  f"{r['server_rps_per_core']:.0f}", f"{r['gen_us_per_req']:.0f}",
                  f"{r['gen_cpu_pct']:.0f}" + (" **GEN-BOUND**" if r["generator_bound"] else ""),
                  f"{r['rss_per_worker_mb']:.0f}/{r['pss_per_worker_mb']:.0f}/"
                  f"{r['private_per_worker_mb']:.0f}",
                  f"{r['foreign_cpu_pct']:.0f}", f"{r['noisy_runs']} of {r['runs']}",
                  f"{r.get('idle_worker_rounds', '?')} of {r['rounds']}",
                  r["saturated"] + (", noisy" if r["noisy"] else "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overhead_section(ratio: dict[str, Any]) -> str:
    """Return the app-overhead paragraph (/predict capacity over /livez capacity)."""
    if not ratio:
        return "Not measured (run without `--no-overhead`, with CapacityUser).\n"
    p, z = ratio["predict"], ratio["livez"]
    verdict = "meets" if ratio["ratio_rps"] >= 0.6 else "misses"
    bound = [name for name, side in (("/predict", p), ("/livez", z))
             if side["gen_peak_proc_pct"] > 90]
    caveat = (f" **Generator-bound** on {' and '.join(bound)} (a generator process above 90% CPU): "
              "that side's capacity is a lower bound, so the req/s ratio is only indicative; "
              "the CPU ratio does not depend on the generator." if bound else "")
    noisy = ratio.get("noisy_runs", 0)
    return (f"Same server ({ratio['config']}) and generator ({ratio['users']} users), runs "
            f"alternated ({noisy} of {ratio.get('runs', 0)} noisy"
            f"{', left out' if noisy else ''}):\n\n"
            "| endpoint | req/s | p99 ms | server us/req | generator CPU % |\n"
            "|---|---|---|---|---|\n"
            f"| /predict (CapacityUser) | {p['rps']:.0f} | {ms(p['p99_ms'])} | "
            f"{p['server_us_per_req']:.0f} | {p['gen_cpu_pct']:.0f} |\n"
            f"| /livez (LivezUser) | {z['rps']:.0f} | {ms(z['p99_ms'])} | "
            f"{z['server_us_per_req']:.0f} | {z['gen_cpu_pct']:.0f} |\n\n"
            f"**App overhead ratio** (/predict req/s / /livez req/s): **{ratio['ratio_rps']:.2f}**"
            f" ({verdict} the 0.6 floor). By server CPU per request (/livez us / /predict us): "
            f"{ratio['ratio_cpu']:.2f}.{caveat}\n")


def opening(choice: Recommendation, summary: list[dict[str, Any]]) -> str:
    """Return the report's first section: the setting to use and how sure it is."""
    if choice.chosen is None:
        return f"## Setting to use\n\n**{choice.why}**\n\n{noise.describe(summary)}\n"
    return (f"## Setting to use\n\n```bash\n{choice.setting} gunicorn -c gunicorn.conf.py "
            f"wsgi:app\n```\n\n{choice.sureness}\n")


def markdown(summary: list[dict[str, Any]], choice: Recommendation, ratio: dict[str, Any],
             meta: dict[str, Any], options: dict[str, Any], pngs: list[str]) -> str:
    """Return the whole report.md."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    rounded = any(r[k] > ROUNDED_ABOVE_MS for r in summary for k in ("p95_ms", "p99_ms"))
    gen_bound = sum(r["generator_bound"] for r in summary)
    parts = [
        "# digitserve worker-count sweep\n", opening(choice, summary),
        f"- Date: {meta['started']} (took {meta['elapsed_s']:.0f} s)",
        f"- Machine: {meta['host']}, {meta['cpu']}, {meta['cpus']} CPUs, "
        f"{meta['memory_gib']} GiB, kernel {meta['kernel']}; load average at start "
        f"{meta['load_avg']}; CPU probe (a fixed Python loop, lower is faster) "
        f"{meta.get('cpu_probe_ms', '?')} ms at the start, {meta.get('cpu_probe_end_ms', '?')} "
        "at the end",
        f"- Software: Python {meta['python']}, {versions}; commit {meta['git_commit']}; "
        f"model sha256 {meta['model_sha256'][:12]}",
        f"- Command: `{meta['command']}`",
        f"- Load: {options['generator']}, {options['user_class']}, {options['duration']:g} s per "
        f"cell, {options['repeat']} interleaved round(s), Locust processes "
        f"{options['locust_processes']}, server CPUs {options['server_cpus'] or 'all'}, Locust "
        f"CPUs {options['locust_cpus'] or 'all'}\n",
        "## Recommendation\n", (choice.why if choice.chosen else "None: see above.") + "\n",
        "## Results (medians over quiet rounds)\n", table(summary) + "\n",
        *notes(gen_bound, rounded),
        "## App overhead (/predict vs /livez capacity)\n", overhead_section(ratio),
        "## Charts\n", *[f"![{name}]({name})\n" for name in pngs],
        "Raw Locust CSVs and logs (or wrk's JSON) are in `raw/`; every run is in "
        "`rounds.csv`.\n",
    ]
    return "\n".join(parts)
