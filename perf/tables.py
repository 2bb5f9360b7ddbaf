"""Write the sweep's report.md: machine, recommendation, the table, overhead, charts, notes."""

from __future__ import annotations

from typing import Any

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
             "MB/worker RSS/PSS/private", "other CPU %", "rounds with an idle worker",
             "saturated"]
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
                  f"{r['other_cpu_pct']:.0f}",
                  f"{r.get('idle_worker_rounds', '?')} of {r['rounds']}", r["saturated"]]
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
    return (f"Same server ({ratio['config']}) and generator ({ratio['users']} users), runs "
            "alternated:\n\n| endpoint | req/s | p99 ms | server us/req | generator CPU % |\n"
            "|---|---|---|---|---|\n"
            f"| /predict (CapacityUser) | {p['rps']:.0f} | {ms(p['p99_ms'])} | "
            f"{p['server_us_per_req']:.0f} | {p['gen_cpu_pct']:.0f} |\n"
            f"| /livez (LivezUser) | {z['rps']:.0f} | {ms(z['p99_ms'])} | "
            f"{z['server_us_per_req']:.0f} | {z['gen_cpu_pct']:.0f} |\n\n"
            f"**App overhead ratio** (/predict req/s / /livez req/s): **{ratio['ratio_rps']:.2f}**"
            f" ({verdict} the 0.6 floor). By server CPU per request (/livez us / /predict us): "
            f"{ratio['ratio_cpu']:.2f}.{caveat}\n")


def markdown(summary: list[dict[str, Any]], why: str, ratio: dict[str, Any],
             meta: dict[str, Any], options: dict[str, Any], pngs: list[str]) -> str:
    """Return the whole report.md."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    rounded = any(r[k] > ROUNDED_ABOVE_MS for r in summary for k in ("p95_ms", "p99_ms"))
    gen_bound = sum(r["generator_bound"] for r in summary)
    parts = [
        "# digitserve worker-count sweep\n",
        f"- Date: {meta['started']} (took {meta['elapsed_s']:.0f} s)",
        f"- Machine: {meta['host']}, {meta['cpu']}, {meta['cpus']} CPUs, "
        f"{meta['memory_gib']} GiB, kernel {meta['kernel']}; load average at start "
        f"{meta['load_avg']}",
        f"- Software: Python {meta['python']}, {versions}; commit {meta['git_commit']}; "
        f"model sha256 {meta['model_sha256'][:12]}",
        f"- Command: `{meta['command']}`",
        f"- Load: {options['generator']}, {options['user_class']}, {options['duration']:g} s per "
        f"cell, {options['repeat']} interleaved round(s), Locust processes "
        f"{options['locust_processes']}, server CPUs {options['server_cpus'] or 'all'}, Locust "
        f"CPUs {options['locust_cpus'] or 'all'}\n",
        "## Recommendation\n", why + "\n",
        "## Results (medians over rounds)\n", table(summary) + "\n",
        "- **server us/req**: CPU time of the whole gunicorn tree divided by requests served. "
        "It is far steadier than req/s on a shared machine: compare configs and code versions "
        "with it.",
        "- **req/s per server core**: 1,000,000 / server us/req, what one core of server buys. "
        "The recommendation projects it onto the cores each config's workers can use, so a "
        "config is not preferred because the generator happened to spend less on it.",
        "- **generator us/req** and **generator CPU %**: the load generator's own CPU (100 = "
        "one core). Cells where a generator process passed 90% are **GEN-BOUND**: the "
        "generator, not the server, set the pace; the recommendation ignores them "
        f"({gen_bound} here).",
        "- **MB/worker RSS/PSS/private**: at the end of the cell; private (smaps Private_Clean "
        "+ Private_Dirty) is what one more worker adds to the machine.",
        "- **saturated**: which side ran out of CPU: `server` (gunicorn used >= 90% of the "
        "cores its workers can use), `generator`, `machine` (server and Locust together filled "
        "the CPUs), or `-` (neither: latency-bound); `noisy` when the machine was over 20% busy "
        "just before the cell with our server idle, or when CPU not charged to the server or "
        "the generator (**other CPU %**: kernel, the sampler, other tenants) passed 60% during it: "
        "req/s and latency are unreliable there.",
        "- **rounds with an idle worker**: rounds in which a worker used under 5% of the "
        "server's CPU. With keep-alive (gthread) the generator's connections can all sit on "
        "some workers while the others idle: such rounds measure the spread of connections, "
        "not the config. Sync workers take a new connection per request.",
        "- Locust keeps response times above 100 ms rounded to two significant digits "
        "(147 ms is stored as 150): values marked `~` are approximate to about 5%"
        + (" and some percentiles above are in that range." if rounded else "; none here.")
        + " Below 100 ms the resolution is 1 ms.\n",
        "## App overhead (/predict vs /livez capacity)\n", overhead_section(ratio),
        "## Charts\n", *[f"![{name}]({name})\n" for name in pngs],
        "Raw Locust CSVs and logs (or wrk's JSON) are in `raw/`; every round is in "
        "`rounds.csv`.\n",
    ]
    return "\n".join(parts)
