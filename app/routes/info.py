"""Service information routes: the welcome message and the model card."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from app.inference.model import ModelInfo
from app.inference.model import get_model
from app.schemas import MessageSchema
from app.schemas import ModelDetailSchema

blp = Blueprint("info", __name__, description="About the service and its model")


@blp.route("/")
class Root(MethodView):
    """Welcome."""

    @blp.response(200, MessageSchema)
    def get(self) -> dict[str, Any]:
        """Say what the service is and where its documentation lives."""
        return {"message": "digitserve: MNIST digit classifier. POST 784 pixels in [0, 1] "
                           "to /predict.", "docs": "/docs", "openapi": "/openapi.json"}


@blp.route("/model")
class Model(MethodView):
    """The loaded model."""

    @blp.response(200, ModelDetailSchema)
    def get(self) -> ModelInfo:
        """Describe the model this worker loaded: identity, card figures and session."""
        return get_model().info
