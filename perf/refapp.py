"""The FastAPI + uvicorn reference: the same model.onnx behind the stack the old service used.

`python -m perf.compare` serves it beside digitserve, to price Flask + Gunicorn. It does the
same work per request: pydantic checks 784 floats in [0, 1] (flat), one onnxruntime session
per worker with digitserve's thread settings, the same answer, on uvicorn with uvloop and
httptools. Two apps differ only in how FastAPI calls the view:

- `app`: plain `def` views, the form FastAPI documents for blocking work such as an
  onnxruntime call; FastAPI runs them in its thread pool. Its figures on the 2-core machine
  match those issue 7 gave for its reference (about 310 us of server CPU and 4,500 req/s a
  /predict), so the issue's floors are read against it.
- `async_app`: `async def` views, run on the event loop with no thread-pool hop: FastAPI's best
  shot, at the price of blocking the loop for each inference.

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


def predict(body: PredictRequest) -> Prediction:
    """Classify one image (a plain view: FastAPI runs it in its thread pool)."""
    return state["model"].predict([body.data])[0]


def predict_batch(body: BatchRequest) -> BatchPrediction:
    """Classify a batch in one onnxruntime call (thread pool)."""
    answers = state["model"].predict(body.instances)
    return BatchPrediction(predictions=answers, count=len(answers))


async def predict_on_loop(body: PredictRequest) -> Prediction:
    """Classify one image on the event loop."""
    return predict(body)


async def predict_batch_on_loop(body: BatchRequest) -> BatchPrediction:
    """Classify a batch on the event loop."""
    return predict_batch(body)


async def livez() -> dict[str, str]:
    """Answer while the worker serves."""
    return {"status": "alive"}


def build(on_loop: bool) -> FastAPI:
    """Return the reference with `def` views (on_loop False) or `async def` views (True)."""
    api = FastAPI(lifespan=lifespan)
    api.post("/predict", response_model=Prediction)(predict_on_loop if on_loop else predict)
    api.post("/predict/batch", response_model=BatchPrediction)(
        predict_batch_on_loop if on_loop else predict_batch)
    api.get("/livez")(livez)
    return api


app = build(on_loop=False)
async_app = build(on_loop=True)
