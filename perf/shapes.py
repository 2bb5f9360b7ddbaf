"""A step-load shape: add users in steps until p95 passes a budget or errors appear.

Use it beside the scenarios (a shape in the locustfile would take over every run):
`locust -f perf/locustfile.py,perf/shapes.py --headless -H URL CapacityUser`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from locust import LoadTestShape
from locust.stats import calculate_response_time_percentile
from locust.stats import diff_response_time_dicts

STEP_USERS = int(os.environ.get("PERF_STEP_USERS", "10"))
STEP_SECONDS = float(os.environ.get("PERF_STEP_SECONDS", "10"))
MAX_USERS = int(os.environ.get("PERF_STEP_MAX_USERS", "200"))
P95_BUDGET_MS = float(os.environ.get("PERF_P95_BUDGET_MS", "50"))
log = logging.getLogger("digitserve.perf")


@dataclass(frozen=True)
class Step:
    """What one step measured: users, throughput, p95 and failures inside the step only."""

    users: int
    rps: float
    p95_ms: float
    failures: int

    def describe(self) -> str:
        """Say what the step measured in one line."""
        return (f"{self.users} users: {self.rps:.0f} req/s, p95 {self.p95_ms:g} ms, "
                f"{self.failures} failures")


class StepLoadShape(LoadTestShape):
    """Raise users by PERF_STEP_USERS every PERF_STEP_SECONDS up to PERF_STEP_MAX_USERS; stop
    at the first step whose p95 passes PERF_P95_BUDGET_MS or that has a failure, and log the
    last good step."""

    def __init__(self) -> None:
        """Start at step 0 with nothing measured."""
        super().__init__()  # type: ignore[no-untyped-call]
        self.step = 0
        self.mark: tuple[dict[int, int], int, int] = ({}, 0, 0)
        self.last_good: Step | None = None

    def measure(self, users: int) -> Step:
        """Return the stats of the step that just ended, and start counting the next one."""
        if self.runner is None:
            raise RuntimeError("the shape has no runner yet")
        total = self.runner.environment.stats.total
        times, requests, failures = self.mark
        step_times = diff_response_time_dicts(total.response_times, times)
        count = total.num_requests - requests
        p95 = calculate_response_time_percentile(step_times, count, 0.95) if count else 0
        self.mark = (dict(total.response_times), total.num_requests, total.num_failures)
        return Step(users, count / STEP_SECONDS, float(p95), total.num_failures - failures)

    def finish(self, reason: str) -> None:
        """Log why the run stops and the last good step."""
        good = self.last_good.describe() if self.last_good else "none (the first step failed)"
        log.warning("step load stops: %s; last good step: %s", reason, good)

    def tick(self) -> tuple[int, float] | None:
        """Return (users, spawn rate) for now, or None to stop the test."""
        step = int(self.get_run_time() // STEP_SECONDS)  # type: ignore[no-untyped-call]
        if step > self.step:
            result = self.measure(min(STEP_USERS * step, MAX_USERS))
            self.step = step
            log.warning("step %d: %s", step, result.describe())
            if result.failures:
                self.finish(f"{result.failures} failures at {result.users} users")
                return None
            if result.p95_ms > P95_BUDGET_MS:
                self.finish(f"p95 {result.p95_ms:g} ms > {P95_BUDGET_MS:g} ms budget")
                return None
            self.last_good = result
            if result.users >= MAX_USERS:
                self.finish(f"reached PERF_STEP_MAX_USERS={MAX_USERS} within budget")
                return None
        return min(STEP_USERS * (step + 1), MAX_USERS), float(STEP_USERS)
