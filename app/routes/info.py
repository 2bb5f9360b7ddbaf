"""Service information routes: the welcome message and the model card."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import current_app

from app.inference.model import get_model
from app.schemas import MessageSchema
from app.schemas import ModelDetailSchema
from app.web.views import Blueprint

blp = Blueprint("info", __name__, description="About the service and its model")


@blp.route("/")
@blp.contract(response=MessageSchema())
def root() -> dict[str, Any]:
    """Say what the service is and where its documentation lives."""
    return {"message": "digitserve: MNIST digit classifier. POST 784 pixels in [0, 1] "
                       "to /predict, or a picture of a digit to /predict/image.",
            "docs": "/docs", "demo": "/demo", "openapi": "/openapi.json"}


@blp.route("/model")
@blp.contract(response=ModelDetailSchema())
def model() -> dict[str, Any]:
    """Describe the model this worker loaded: identity, card figures, session and reloads."""
    return {**asdict(get_model().info), "reloads": current_app.config["MODEL_RELOADS"] or None}
