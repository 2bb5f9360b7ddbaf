"""A background client that sends real digits to /predict and records every outcome."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from types import TracebackType

import requests

from tests.support import load_heldout


@dataclass
class Outcomes:
    """What the load client saw: successes, failures by kind, refused connections."""

    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str) -> None:
        """Count one outcome ("ok", "refused" or a failure kind)."""
        with self.lock:
            if kind == "ok":
                self.ok += 1
            elif kind == "refused":
                self.refused += 1
            else:
                self.failures[kind] += 1

    @property
    def failed(self) -> int:
        """Return how many requests failed (refused connections excluded)."""
        return sum(self.failures.values())


class LoadClient:
    """Send real digits to /predict from a few threads until stopped (or a hard deadline).

    Each request uses its own connection, as sync workers close them anyway.
    """

    def __init__(self, base_url: str, threads: int = 2, max_seconds: float = 60.0) -> None:
        images, labels = load_heldout()
        self._bodies = [({"data": images[i].tolist()}, int(labels[i])) for i in range(50)]
        self.url = f"{base_url}/predict"
        self.outcomes = Outcomes()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def _run(self, offset: int) -> None:
        i = offset
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            body, label = self._bodies[i % len(self._bodies)]
            i += 1
            self.outcomes.add(self._send(body, label))

    def _send(self, body: dict[str, list[float]], label: int) -> str:
        try:
            with requests.post(self.url, json=body, timeout=10) as response:
                if response.status_code != 200:
                    return f"status {response.status_code}"
                # The first 50 held-out digits are all classified right at rest.
                return "ok" if response.json()["prediction"] == label else "wrong label"
        except requests.ConnectionError as error:
            return "refused" if "refused" in str(error).lower() else type(error).__name__
        except requests.RequestException as error:
            return type(error).__name__

    def wait_for(self, requests_done: int, timeout_s: float = 20.0) -> None:
        """Block until at least requests_done requests have finished."""
        deadline = time.monotonic() + timeout_s
        while self.outcomes.ok + self.outcomes.failed < requests_done:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.outcomes.ok} requests done")
            time.sleep(0.02)

    def __enter__(self) -> LoadClient:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
