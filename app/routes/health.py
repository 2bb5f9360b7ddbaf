"""Health routes: /health for people and old clients, /livez and /readyz for orchestrators."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app

from app.inference.model import get_model
from app.schemas import HealthSchema
from app.web import drain
from app.web.errors import ModelUnavailableError
from app.web.views import Blueprint

blp = Blueprint("health", __name__, description="Liveness, readiness and health")

Answer = tuple[dict[str, Any], int]
_HEALTH = HealthSchema()
_UNAVAILABLE = {503: (_HEALTH, "The model cannot answer.")}


def _probe() -> tuple[dict[str, Any], str | None]:
    """Run the model's warm-up inference; return its identity and the failure, if any."""
    model = get_model()
    identity = {"name": model.info.name, "version": model.info.version,
                "sha256": model.info.sha256}
    try:
        model.check()
    except ModelUnavailableError as error:
        if error.detail:  # the body says what failed; the log says why
            current_app.logger.error("health check: %s (%s)", error.message, error.detail)
        return identity, error.message
    return identity, None


@blp.route("/health")
@blp.contract(response=_HEALTH, alternatives=_UNAVAILABLE)
def health() -> Answer:
    """Report whether this worker's model answers, with its identity and the worker pid."""
    identity, failure = _probe()
    body = {"status": "unhealthy" if failure else "healthy", "model_loaded": failure is None,
            "model": identity, "pid": os.getpid(), "session_pid": get_model().info.pid}
    if failure:
        body["message"] = failure
    return body, 503 if failure else 200


@blp.route("/livez")
@blp.contract(response=_HEALTH)
def livez() -> dict[str, Any]:
    """Answer as long as the worker process serves requests."""
    return {"status": "alive", "pid": os.getpid()}


@blp.route("/readyz")
@blp.contract(response=_HEALTH, alternatives={
    503: (_HEALTH, "The model cannot answer, or the server is draining (DIGITSERVE_DRAIN_FILE).")})
def readyz() -> Answer:
    """Answer 200 when the model is loaded and its warm-up inference passes, else 503."""
    if (draining := drain.readiness_override()) is not None:
        return draining
    identity, failure = _probe()
    body = {"status": "not ready" if failure else "ready", "model": identity}
    if failure:
        body["message"] = failure
    return body, 503 if failure else 200
