"""Sample the CPU time and RSS of process trees (server, Locust) and the machine, with psutil."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from dataclasses import field

import psutil

IDLE_SHARE = 0.05  # a worker with under this share of a run's server CPU sat idle in it
QUIET_PCT = 20.0  # machine CPU (100 = one core) below which the idle machine counts as quiet


@dataclass(frozen=True)
class Sample:
    """One reading: wall time, CPU seconds per pid of each tree, RSS per pid, machine busy s,
    and the CPU seconds of this process (the sampler and whatever else runs in it)."""

    t: float
    cpu: dict[str, dict[int, float]]
    rss: dict[str, dict[int, int]]
    machine_busy_s: float
    own_s: float = 0.0


def tree_cpu(pid: int) -> dict[int, float]:
    """Return user+system CPU seconds of pid and each of its descendants."""
    readings: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return readings
    for proc in procs:
        try:
            times = proc.cpu_times()
            readings[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return readings


def idle_workers(before: dict[int, float], after: dict[int, float],
                 workers: set[int]) -> int:
    """Count the workers that did almost none of a run's work (under IDLE_SHARE of it).

    With keep-alive the generator's few connections stay where the kernel put them: when all
    land on one worker, the others sit idle and the server answers about half as much.
    """
    used = {pid: cpu - before.get(pid, 0.0) for pid, cpu in after.items() if pid in workers}
    total = sum(used.values())
    return sum(1 for seconds in used.values() if seconds < IDLE_SHARE * total)


def tree_rss(pid: int) -> dict[int, int]:
    """Return the RSS in bytes of each descendant of pid (the workers, for gunicorn)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    sizes: dict[int, int] = {}
    for proc in children:
        try:
            sizes[proc.pid] = proc.memory_info().rss
        except psutil.Error:
            pass
    return sizes


def machine_busy_s() -> float:
    """Return the machine's non-idle CPU seconds, summed over all cores."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class TreeSampler:
    """Read named process trees every `interval` seconds in a background thread."""

    roots: dict[str, int]
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def read(self) -> Sample:
        """Take one reading now (and keep it)."""
        sample = Sample(time.time(), {n: tree_cpu(p) for n, p in self.roots.items()},
                        {n: tree_rss(p) for n, p in self.roots.items()}, machine_busy_s(),
                        time.process_time())
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        """Read every interval until stopped."""
        while not self._stop.wait(self.interval):
            self.read()

    def __enter__(self) -> TreeSampler:
        """Take a first reading and start the background thread."""
        self.read()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the thread and take a last reading."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.read()

    def window(self, t0: float, t1: float) -> tuple[Sample, Sample]:
        """Return the first and last samples in [t0, t1] in which every tree was alive."""
        alive = [s for s in self.samples if all(s.cpu.get(name) for name in self.roots)]
        inside = [s for s in alive if t0 <= s.t <= t1]
        if len(inside) < 2:  # a window shorter than the interval: use the whole run
            inside = alive if len(alive) >= 2 else self.samples
        return inside[0], inside[-1]


def cpu_percent(first: Sample, last: Sample, tree: str) -> tuple[float, float]:
    """Return a tree's CPU % of one core between two samples: the total and its busiest pid."""
    span = max(last.t - first.t, 1e-9)
    before = first.cpu.get(tree, {})
    deltas = [cpu - before.get(pid, 0.0) for pid, cpu in last.cpu.get(tree, {}).items()
              if pid in before or cpu < span]  # a pid born inside the window counts from 0
    return 100 * sum(deltas) / span, 100 * max(deltas, default=0.0) / span


def peak_rss_mb(samples: list[Sample], tree: str) -> list[float]:
    """Return the peak RSS of each descendant seen in samples, in MB."""
    peaks: dict[int, int] = {}
    for sample in samples:
        for pid, rss in sample.rss.get(tree, {}).items():
            peaks[pid] = max(peaks.get(pid, 0), rss)
    return [rss / 2**20 for rss in peaks.values()]


def machine_cpu_pct(seconds: float = 1.0) -> float:
    """Return the machine's CPU use over the next `seconds` (100 = one core)."""
    before, start = machine_busy_s(), time.time()
    time.sleep(seconds)
    return 100 * (machine_busy_s() - before) / (time.time() - start)


def wait_quiet(max_wait_s: float, below: float = QUIET_PCT) -> float:
    """Wait (up to max_wait_s) until the machine, with our server idle, uses under `below` %.

    :returns: the machine's CPU % in the last half second measured (100 = one core).
    """
    deadline = time.monotonic() + max_wait_s
    busy = machine_cpu_pct(0.5)
    while busy >= below and time.monotonic() < deadline:
        print(f"    waiting for other load to stop (machine CPU {busy:.0f}%)", file=sys.stderr,
              flush=True)
        busy = machine_cpu_pct(0.5)
    return busy
