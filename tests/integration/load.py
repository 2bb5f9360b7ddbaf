"""A background client that sends real digits to /predict and records every outcome."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Generic
from typing import Protocol
from typing import Self
from typing import TypeVar

import numpy as np
import requests

from app.inference.model import DigitClassifier
from tests.support import MODEL_PATH
from tests.support import load_heldout

# Errors meaning "no worker ever took this connection": the listener was closed (refused) or
# the connection was still in the accept queue when the last listening socket closed (reset).
UNSERVED = frozenset({"ConnectionRefusedError", "ConnectionResetError"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it ran (time.monotonic()) and how it ended."""

    started: float
    ended: float
    status: int | None = None  # None when no response came back
    correct: bool = False  # a 200 whose label is the true one
    error: str | None = None  # the root exception's type name, when no response came back

    @property
    def ok(self) -> bool:
        """Return whether the request got a 200 with the right label."""
        return self.status == 200 and self.correct


class Result(Protocol):
    """How one request ended, whichever client sent it (an Outcome, or fleet.py's Sent)."""

    @property
    def status(self) -> int | None:
        """Return the HTTP status, or None when no response came back."""

    @property
    def ok(self) -> bool:
        """Return whether the request got a 200 with the right label."""

    @property
    def error(self) -> str | None:
        """Return the exception's type name when no response came back, else None."""


R = TypeVar("R", bound=Result)


def kind(result: Result) -> str:
    """Name a result for counting: "ok", "status 503", "wrong label" or an error."""
    if result.error is not None:
        return result.error
    if result.status != 200:
        return f"status {result.status}"
    return "ok" if result.ok else "wrong label"


def count(outcomes: Iterable[Result]) -> Counter[str]:
    """Count outcomes by kind."""
    return Counter(kind(outcome) for outcome in outcomes)


def failures(outcomes: Iterable[R]) -> list[R]:
    """Return the failed requests: any exception, any non-200, any wrong label."""
    return [outcome for outcome in outcomes if not outcome.ok]


@functools.cache
def right_digits(n: int = 64) -> tuple[tuple[str, int], ...]:
    """Return n held-out digits the real model gets right, as JSON bodies and labels."""
    images, labels = load_heldout()
    model = DigitClassifier.load(Path(MODEL_PATH), threads=1)
    batch = images[: 2 * n].astype(np.float32).reshape(-1, 1, 28, 28)
    predicted = [p.prediction for p in model.predict(batch)]
    chosen = [i for i in range(len(predicted)) if predicted[i] == labels[i]][:n]
    if len(chosen) < n:
        raise RuntimeError(f"the model gets only {len(chosen)} of {2 * n} held-out digits right")
    bodies = [json.dumps({"data": images[i].tolist()}) for i in chosen]
    return tuple(zip(bodies, (int(labels[i]) for i in chosen), strict=True))


def root_error(error: BaseException) -> str:
    """Return the type name of the innermost exception behind a requests error."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return type(error).__name__


class BackgroundClient(Generic[R]):
    """Send real digits to /predict from a few threads until stopped or a hard deadline passes.

    Each thread sends digit (thread + n) as its nth request; _send makes the request and
    returns how it ended, which is kept in completion order.
    """

    error_pause_s = 0.0  # how long a thread waits after a request that got no response

    def __init__(self, base_url: str, threads: int = 2, max_seconds: float = 60.0) -> None:
        self.url = f"{base_url}/predict"
        self._digits = right_digits()
        self._results: list[R] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]

    def results(self) -> list[R]:
        """Return a snapshot of every result so far, in completion order."""
        with self._lock:
            return list(self._results)

    def done(self) -> int:
        """Return how many requests have finished."""
        with self._lock:
            return len(self._results)

    def wait_for_more(self, n: int, timeout_s: float = 30.0) -> None:
        """Block until n more requests have finished.

        :raises TimeoutError: if they have not after timeout_s, or the client stopped.
        """
        target = self.done() + n
        deadline = time.monotonic() + timeout_s
        while self.done() < target:
            if time.monotonic() > deadline or not any(t.is_alive() for t in self._threads):
                raise TimeoutError(f"{self.done()} of {target} requests done: "
                                   f"{count(self.results())}")
            time.sleep(0.02)

    def _run(self, thread: int) -> None:
        n = 0
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            body, label = self._digits[(thread + n) % len(self._digits)]
            result = self._send(body, label, f"t{thread}-{n}")
            n += 1
            with self._lock:
                self._results.append(result)
            if self.error_pause_s and result.error is not None:
                time.sleep(self.error_pause_s)

    def _send(self, body: str, label: int, request_id: str) -> R:
        """Send one digit's JSON body and return how the request ended."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


class LoadClient(BackgroundClient[Outcome]):
    """Send real digits to /predict, recording each request's Outcome (monotonic times).

    Each request uses its own connection (sync workers close it anyway) and requests does no
    retries, so every failure is recorded.
    """

    error_pause_s = 0.05  # a refused connection returns at once: do not spin

    @property
    def outcomes(self) -> list[Outcome]:
        """Return a snapshot of every outcome so far, in completion order."""
        return self.results()

    def _send(self, body: str, label: int, request_id: str) -> Outcome:
        started = time.monotonic()
        try:
            with requests.post(self.url, data=body, timeout=10,
                               headers={"Content-Type": "application/json"}) as response:
                correct = (response.status_code == 200
                           and response.json().get("prediction") == label)
                return Outcome(started, time.monotonic(), response.status_code, correct)
        except requests.RequestException as error:
            return Outcome(started, time.monotonic(), error=root_error(error))
