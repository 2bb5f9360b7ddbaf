"""Prediction routes: one image, or a batch in one onnxruntime call."""

from __future__ import annotations

from typing import Any

from app.inference.model import Prediction
from app.inference.model import get_model
from app.inference.preprocess import to_batch
from app.schemas import BatchPredictionSchema
from app.schemas import BatchRequestSchema
from app.schemas import PredictionSchema
from app.schemas import PredictRequestSchema
from app.web import memory
from app.web.metrics import InferenceTimer
from app.web.views import JSON_BODY_ERRORS
from app.web.views import Blueprint

blp = Blueprint("predict", __name__, description="Digit classification")

ERRORS = {**JSON_BODY_ERRORS,
          503: "The model failed to answer (inference error); the worker keeps serving."}


@blp.route("/predict", methods=["POST"])
@blp.contract(body=PredictRequestSchema(), response=PredictionSchema(), errors=ERRORS)
def predict(body: dict[str, Any]) -> Prediction:
    """Classify one 28x28 image (784 values in [0, 1], flat or nested)."""
    batch = to_batch(body["data"])
    with InferenceTimer(len(batch)):
        return get_model().predict(batch)[0]


@blp.route("/predict/batch", methods=["POST"])
@blp.contract(body=BatchRequestSchema(), response=BatchPredictionSchema(), errors=ERRORS)
def predict_batch(body: dict[str, Any]) -> dict[str, Any]:
    """Classify 1 to MAX_BATCH images in one inference call; answers keep their order."""
    batch = to_batch(body["instances"])
    with InferenceTimer(len(batch)):
        predictions = get_model().predict(batch)
    memory.after_batch(len(batch))
    return {"predictions": predictions, "count": len(predictions)}
