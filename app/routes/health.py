"""Health routes: /health for people and old clients, /livez and /readyz for orchestrators."""

from __future__ import annotations

import os
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from app.inference.model import get_model
from app.schemas import HealthSchema
from app.web import drain
from app.web.errors import ModelUnavailableError

blp = Blueprint("health", __name__, description="Liveness, readiness and health")

Answer = tuple[dict[str, Any], int]


def _probe() -> tuple[dict[str, Any], str | None]:
    """Run the model's warm-up inference; return its identity and the failure, if any."""
    model = get_model()
    identity = {"name": model.info.name, "version": model.info.version,
                "sha256": model.info.sha256}
    try:
        model.check()
    except ModelUnavailableError as error:
        return identity, error.message
    return identity, None


@blp.route("/health")
class Health(MethodView):
    """Model and worker health."""

    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The model cannot answer.")
    def get(self) -> Answer:
        """Report whether this worker's model answers, with its identity and the worker pid."""
        identity, failure = _probe()
        body = {"status": "unhealthy" if failure else "healthy", "model_loaded": failure is None,
                "model": identity, "pid": os.getpid(), "session_pid": get_model().info.pid}
        if failure:
            body["message"] = failure
        return body, 503 if failure else 200


@blp.route("/livez")
class Live(MethodView):
    """Process liveness."""

    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Answer as long as the worker process serves requests."""
        return {"status": "alive", "pid": os.getpid()}


@blp.route("/readyz")
class Ready(MethodView):
    """Readiness: the model is loaded and answers."""

    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The model cannot answer.")
    def get(self) -> Answer:
        """Answer 200 when the model is loaded and its warm-up inference passes, else 503."""
        if (draining := drain.readiness_override()) is not None:
            return draining
        identity, failure = _probe()
        body = {"status": "not ready" if failure else "ready", "model": identity}
        if failure:
            body["message"] = failure
        return body, 503 if failure else 200
