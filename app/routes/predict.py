"""Prediction routes: one image, or a batch in one onnxruntime call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.error_handler import ErrorSchema

from app.inference.model import Prediction
from app.inference.model import get_model
from app.inference.preprocess import to_batch
from app.schemas import BatchPredictionSchema
from app.schemas import BatchRequestSchema
from app.schemas import PredictionSchema
from app.schemas import PredictRequestSchema
from app.web.jsonio import StrictJsonParser
from app.web.metrics import time_inference


class JsonBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest Blueprint whose bodies go through the strict orjson parser."""

    ARGUMENTS_PARSER = StrictJsonParser()


blp = JsonBlueprint("predict", __name__, description="Digit classification")


def _document_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Add the error answers every prediction route can give to the OpenAPI document."""
    for code, text in ((400, "The body is not JSON."),
                       (413, "The body is over MAX_CONTENT_LENGTH."),
                       (415, "The Content-Type is not application/json."),
                       (422, "Validation failed; `errors` names the field.")):
        view = blp.alt_response(code, schema=ErrorSchema, description=text)(view)
    return view


@blp.route("/predict")
class Predict(MethodView):
    """Classify one image."""

    @blp.arguments(PredictRequestSchema())  # an instance: a class is rebuilt per request
    @blp.response(200, PredictionSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> Prediction:
        """Classify one 28x28 image (784 values in [0, 1], flat or nested)."""
        batch = to_batch(body["data"])
        with time_inference(len(batch)):
            return get_model().predict(batch)[0]


@blp.route("/predict/batch")
class PredictBatch(MethodView):
    """Classify several images at once."""

    @blp.arguments(BatchRequestSchema())
    @blp.response(200, BatchPredictionSchema)
    @_document_errors
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Classify 1 to MAX_BATCH images in one inference call; answers keep their order."""
        batch = to_batch(body["instances"])
        with time_inference(len(batch)):
            predictions = get_model().predict(batch)
        return {"predictions": predictions, "count": len(predictions)}
