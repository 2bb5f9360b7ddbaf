"""The sweep report's notes: what each column of its table means."""

from __future__ import annotations

from perf.noise import NOISY_PCT


def notes(gen_bound: int, rounded: bool) -> list[str]:
    """Return the bullet lines that follow the results table."""
    return [
        "- **server us/req**: CPU time of the whole gunicorn tree divided by the requests it "
        "answered, over the steady part of each run (Locust's start-up, which sends the "
        "held-out digits as batches, left out). It is far steadier than req/s on a shared "
        "machine: compare configs and code versions with it.",
        "- **req/s per server core**: 1,000,000 / server us/req, what one core of server buys. "
        "The recommendation projects it onto the cores each config's workers can use, so a "
        "config is not preferred because the generator happened to spend less on it.",
        "- **generator us/req** and **generator CPU %**: the load generator's own CPU (100 = "
        "one core). Cells where a generator process passed 90% are **GEN-BOUND**: the "
        "generator, not the server, set the pace; the recommendation ignores them "
        f"({gen_bound} here).",
        "- **MB/worker RSS/PSS/private**: at the end of the cell; private (smaps Private_Clean "
        "+ Private_Dirty) is what one more worker adds to the machine.",
        "- **foreign CPU %**: machine CPU used by neither the server, the generator nor the "
        "sweep itself (other processes, other tenants, kernel work charged to no process) "
        f"during the run. **noisy runs**: runs in which it passed {NOISY_PCT:g}% of one core "
        "(a quiet machine shows 0-4); before each run the sweep waits (up to `--quiet-wait` s) "
        "for the machine to calm down, and runs a noisy cell again (`--noisy-retries`). Noisy "
        "runs are left out of the medians; a cell with only noisy runs is marked `noisy` and "
        "the recommendation ignores it.",
        "- **saturated**: which side ran out of CPU: `server` (gunicorn used >= 90% of the "
        "cores its workers can use), `generator`, `machine` (server and generator together "
        "used >= 85% of the CPUs), or `-` (neither: latency-bound, a cell that says nothing "
        "about capacity).",
        "- **rounds with an idle worker**: rounds in which a worker used under 5% of the "
        "server's CPU. With keep-alive (gthread) the generator's connections can all sit on "
        "some workers while the others idle: such rounds measure the spread of connections, "
        "not the config. Sync workers take a new connection per request.",
        "- Locust keeps response times above 100 ms rounded to two significant digits "
        "(147 ms is stored as 150): values marked `~` are approximate to about 5%"
        + (" and some percentiles above are in that range." if rounded else "; none here.")
        + " Below 100 ms the resolution is 1 ms.\n",
    ]
