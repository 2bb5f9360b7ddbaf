"""The least a Flask app can do per /predict: the price of Flask + Gunicorn sync workers alone.

One plain view: orjson, the service's numpy-backed marshmallow field, the model. No OpenAPI,
metrics, request ids or JSON error handlers. `python -m perf.compare` serves it beside
digitserve and the FastAPI reference, with the repo's gunicorn.conf.py
(`gunicorn -c gunicorn.conf.py perf.minimal:app`), to show what digitserve's features cost.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from flask import Flask
from flask import Response
from flask import request
from marshmallow import Schema

from app.config import DEFAULTS
from app.fields import DigitImage
from app.fields import DigitImageBatch
from app.inference.model import DigitClassifier
from app.inference.preprocess import to_batch


class MinimalRequestSchema(Schema):
    """{"data": one image}."""

    data = DigitImage(required=True)


class MinimalBatchSchema(Schema):
    """{"instances": [image, ...]} (Locust's calibration sends these)."""

    instances = DigitImageBatch(required=True)


_SCHEMA, _BATCH_SCHEMA = MinimalRequestSchema(), MinimalBatchSchema()
app = Flask(__name__)
app.config["MAX_BATCH"] = DEFAULTS["MAX_BATCH"]
_MODEL = DigitClassifier.load(Path(DEFAULTS["MODEL_PATH"]), threads=DEFAULTS["ORT_THREADS"])


@app.post("/predict")
def predict() -> Response:
    """Classify one image."""
    body = _SCHEMA.load(orjson.loads(request.get_data()))
    answer = _MODEL.predict(to_batch(body["data"]))[0]
    return Response(orjson.dumps(answer), mimetype="application/json")


@app.post("/predict/batch")
def predict_batch() -> Response:
    """Classify a batch in one call."""
    body = _BATCH_SCHEMA.load(orjson.loads(request.get_data()))
    answers = _MODEL.predict(to_batch(body["instances"]))
    return Response(orjson.dumps({"predictions": answers, "count": len(answers)}),
                    mimetype="application/json")


@app.get("/livez")
def livez() -> Response:
    """Answer while the worker serves."""
    return Response(b'{"status":"alive"}', mimetype="application/json")
