"""Service information routes: the welcome message and the model card."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import current_app

from app.inference.model import ModelInfo
from app.inference.model import get_model
from app.schemas import MessageSchema
from app.schemas import ModelDetailSchema
from app.web.views import Blueprint

blp = Blueprint("info", __name__, description="About the service and its model")


@blp.route("/")
@blp.contract(response=MessageSchema())
def root() -> dict[str, Any]:
    """Say what the service serves and where its documentation lives."""
    return {"message": describe(get_model().info),
            "docs": "/docs", "demo": "/demo", "openapi": "/openapi.json"}


def describe(info: ModelInfo) -> str:
    """Say in one line which model is served and how to call it."""
    return (f"digitserve: serving {info.name} {info.version}, a classifier of 28x28 digit "
            f"images into 10 classes. POST 784 pixels in [0, 1] to /predict, or a picture of a "
            f"digit to /predict/image.")


@blp.route("/model")
@blp.contract(response=ModelDetailSchema())
def model() -> dict[str, Any]:
    """Describe the model this worker loaded: identity, card figures, session and reloads."""
    return {**asdict(get_model().info), "reloads": current_app.config["MODEL_RELOADS"] or None}
