"""Draining: while the drain file exists, /readyz answers 503 and every other route still serves."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app

DRAINING = "draining"


def is_draining(drain_file: str) -> bool:
    """Return whether a drain was asked for: drain_file is set and exists."""
    return bool(drain_file) and os.path.exists(drain_file)


def readiness_override() -> tuple[dict[str, Any], int] | None:
    """Return /readyz's 503 answer while this server drains, or None when it does not.

    Only /readyz calls this (one stat of the drain file), so draining costs the other routes
    nothing: they keep answering until Gunicorn is told to stop.
    """
    drain_file = current_app.config["DRAIN_FILE"]
    if not is_draining(drain_file):
        return None
    return {"status": DRAINING,
            "message": f"Draining: {drain_file} exists; still serving until stopped."}, 503
