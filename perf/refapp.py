"""The FastAPI + uvicorn reference: the same model.onnx behind the stack the old service used.

`python -m perf.compare` serves it beside digitserve, to price Flask + Gunicorn. It does the
same work per request: pydantic checks 784 floats in [0, 1] (flat), one onnxruntime session
per worker with digitserve's thread settings, the same answer. It is given its best shot:
`async def` views (no thread-pool hop), uvloop and httptools, pydantic's own serialiser.
Run by hand: `uvicorn perf.refapp:app --workers 2 --loop uvloop --http httptools`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel
from pydantic import Field

MODEL_PATH = os.environ.get("DIGITSERVE_MODEL_PATH",
                            str(Path(__file__).resolve().parent.parent / "model.onnx"))
THREADS = int(os.environ.get("DIGITSERVE_ORT_THREADS", "1"))

Pixel = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Image = Annotated[list[Pixel], Field(min_length=784, max_length=784)]


class PredictRequest(BaseModel):
    """Body of POST /predict: one flat image."""

    data: Image


class BatchRequest(BaseModel):
    """Body of POST /predict/batch."""

    instances: Annotated[list[Image], Field(min_length=1, max_length=256)]


class Prediction(BaseModel):
    """One image's answer, as digitserve gives it."""

    prediction: int
    confidence: float
    probabilities: list[float]


class BatchPrediction(BaseModel):
    """Answers in request order."""

    predictions: list[Prediction]
    count: int


class Model:
    """One onnxruntime session, created in each worker at start-up."""

    def __init__(self, path: str, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, images: list[list[float]]) -> list[Prediction]:
        """Classify flat images; probabilities rounded to 6 decimals as digitserve does."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, 1, 28, 28)
        rows = np.round(self.session.run(None, {self.input_name: batch})[0].astype(np.float64),
                        6).tolist()
        return [Prediction(prediction=row.index(max(row)), confidence=max(row),
                           probabilities=row) for row in rows]


state: dict[str, Model] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Load the model in this worker before it serves."""
    state["model"] = Model(MODEL_PATH, THREADS)
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/predict", response_model=Prediction)
async def predict(body: PredictRequest) -> Prediction:
    """Classify one image."""
    return state["model"].predict([body.data])[0]


@app.post("/predict/batch", response_model=BatchPrediction)
async def predict_batch(body: BatchRequest) -> BatchPrediction:
    """Classify a batch in one onnxruntime call."""
    answers = state["model"].predict(body.instances)
    return BatchPrediction(predictions=answers, count=len(answers))


@app.get("/livez")
async def livez() -> dict[str, str]:
    """Answer while the worker serves."""
    return {"status": "alive"}
