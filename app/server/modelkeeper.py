"""The master's model: the file it checked, the private copy workers load, and reloads on HUP.

Workers never read MODEL_PATH itself. The master reads the file whole, checks it in a forked
child (app/server/forkcheck.py), writes the bytes it checked to a private directory and
points new workers at that copy (DIGITSERVE_MODEL_SNAPSHOT). On HUP it checks the file again:
a good new model replaces the copy; a bad one (missing, empty, truncated, corrupt, the wrong
interface, still being copied) is refused and every worker, new or replaced, keeps loading
the last good copy. The master keeps the bytes too, and rewrites a copy that has gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.inference.session import read_model_file
from app.server import copies
from app.server.forkcheck import Verdict
from app.server.forkcheck import check_in_child
from app.web.errors import ModelLoadError

SNAPSHOT_ENV = "DIGITSERVE_MODEL_SNAPSHOT"
RELOADS_ENV = "DIGITSERVE_MODEL_RELOADS"

Check = Callable[[bytes, Path], Verdict]
log = logging.getLogger("gunicorn.error")


@dataclass(frozen=True)
class Served:
    """The model the workers load: its checked bytes and where their copy is."""

    sha256: str
    content: bytes
    snapshot: Path
    name: str
    version: str

    def describe(self) -> str:
        """Name the model in a log line."""
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]})"


class ModelKeeper:
    """Check MODEL_PATH at start and on each HUP; keep the workers on the last good model."""

    def __init__(self, path: Path, directory: Path, check: Check = check_in_child) -> None:
        self.path = path
        self.directory = directory
        self.check = check
        self._served: Served | None = None
        self.record: dict[str, Any] = {"accepted": 0, "unchanged": 0, "refused": 0,
                                       "last_refusal": None}

    @property
    def served(self) -> Served:
        """Return the model being served (after start())."""
        if self._served is None:
            raise RuntimeError("ModelKeeper.start() has not run")
        return self._served

    def start(self) -> Served:
        """Check the model file and serve it.

        :raises ModelLoadError: if the file is refused; the server must not start.
        """
        started = time.monotonic()
        content = read_model_file(self.path)
        try:
            verdict = self.check(content, self.path)
        except OSError as error:
            raise ModelLoadError(f"the check of model {self.path} could not run: "
                                 f"{error}") from error
        if not verdict.ok:
            raise ModelLoadError(verdict.reason)
        try:
            self._serve(content, verdict)
        except OSError as error:
            raise ModelLoadError(f"cannot copy model {self.path} to {self.directory}: "
                                 f"{error}") from error
        log.info("model %s checked in %.0f ms (%s known digits right): serving %s from the "
                 "copy %s", self.path, (time.monotonic() - started) * 1000, verdict.known,
                 self.served.describe(), self.served.snapshot)
        return self.served

    def reload(self) -> str:
        """Check the file again; serve it if good, else keep the last good model.

        Return the outcome: "accepted", "unchanged" or "refused". Never raises.
        """
        started = time.monotonic()
        try:
            content = read_model_file(self.path)
        except ModelLoadError as error:
            return self._refuse(str(error), None)
        sha256 = hashlib.sha256(content).hexdigest()
        if sha256 == self.served.sha256:
            log.info("reload: model %s unchanged, still serving %s", self.path,
                     self.served.describe())
            return self._count("unchanged")
        try:
            verdict = self.check(content, self.path)
        except OSError as error:  # no fork, no pipe: the master is short of something
            return self._refuse(f"the check of model {self.path} could not run: {error}",
                                sha256)
        if not verdict.ok:
            return self._refuse(verdict.reason, sha256)
        before = self.served.describe()
        try:
            self._serve(content, verdict)
        except OSError as error:
            return self._refuse(f"cannot copy model {self.path} to {self.directory}: {error}",
                                sha256)
        log.info("reload: model %s accepted, checked in %.0f ms (%s known digits right): "
                 "serving %s, was %s", self.path, (time.monotonic() - started) * 1000,
                 verdict.known, self.served.describe(), before)
        return self._count("accepted")

    def ensure_snapshot(self) -> None:
        """Rewrite the workers' copy from memory if it has gone or changed (before a fork)."""
        served = self.served
        if copies.in_place(served.snapshot, served.content):
            return
        try:
            copies.rewrite(served.snapshot, served.content)
            log.warning("model copy %s was missing or changed: rewritten", served.snapshot)
        except OSError as error:
            log.error("model copy %s cannot be rewritten: %s", served.snapshot, error)

    def _serve(self, content: bytes, verdict: Verdict) -> None:
        """Write the checked bytes as the workers' copy and point new workers at it."""
        sha256 = hashlib.sha256(content).hexdigest()
        snapshot = copies.write(self.directory, content, sha256)
        self._served = Served(sha256, content, snapshot, verdict.name, verdict.version)
        self._publish()

    def _refuse(self, reason: str, sha256: str | None) -> str:
        """Keep the last good model; record and log why the file was refused."""
        self.record["last_refusal"] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                       "path": str(self.path), "sha256": sha256,
                                       "reason": reason}
        log.error("reload refused: %s; still serving %s", reason.rstrip("."),
                  self.served.describe())
        return self._count("refused")

    def _count(self, outcome: str) -> str:
        """Count a reload's outcome and tell the next workers."""
        self.record[outcome] += 1
        self._publish()
        return outcome

    def _publish(self) -> None:
        """Tell workers forked from now on which copy to load and what reloads did."""
        os.environ[SNAPSHOT_ENV] = str(self.served.snapshot)
        os.environ[RELOADS_ENV] = json.dumps(self.record)
