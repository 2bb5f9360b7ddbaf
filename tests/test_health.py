"""Health, readiness, liveness, the welcome message, the model card and the OpenAPI document."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.inference.model import KEY
from app.web.errors import ModelUnavailableError
from tests.support import MODEL_PATH

SHA256 = hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()


def test_root_has_message(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "digit" in response.get_json()["message"]


def test_health_reports_model_and_pids(client: FlaskClient) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "healthy"
    assert body["model_loaded"] is True
    assert body["model"]["sha256"] == SHA256
    assert body["model"]["name"] == "digitserve-mnist-cnn"
    assert body["pid"] == body["session_pid"] == os.getpid()


def test_livez_and_readyz(client: FlaskClient) -> None:
    assert client.get("/livez").get_json() == {"status": "alive", "pid": os.getpid()}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"
    assert ready.get_json()["model"]["sha256"] == SHA256


def test_failing_model_makes_health_and_readyz_503(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    model = app.extensions[KEY]

    def fail() -> None:
        raise ModelUnavailableError("inference failed: injected")

    monkeypatch.setattr(model, "check", fail)
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unhealthy"
    assert health.get_json()["model_loaded"] is False
    assert "injected" in health.get_json()["message"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/livez").status_code == 200


def test_a_real_check_failure_keeps_onnxruntime_text_out_of_health_and_in_the_log(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """onnxruntime refuses the check batch: /health says what failed, the log says why."""
    monkeypatch.setattr(app.extensions[KEY], "_warmup", np.zeros((1, 1, 27, 27), np.float32))
    with caplog.at_level("ERROR"):
        health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["message"] == "inference failed; the server log has the details"
    assert "ONNXRuntimeError" not in health.get_data(as_text=True)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "health check: inference failed" in logged and "INVALID_ARGUMENT" in logged, logged


def test_model_card(client: FlaskClient) -> None:
    body = client.get("/model").get_json()
    assert body["sha256"] == SHA256
    assert body["size_bytes"] == MODEL_PATH.stat().st_size < 1_000_000
    assert body["threads"] == 1
    assert body["version"] == body["metadata"]["version"] == "2.0.0"
    for figure in ("heldout_accuracy", "transformed_accuracy", "ece", "noise_mean_confidence"):
        assert float(body["metadata"][figure]) >= 0
    assert float(body["metadata"]["heldout_accuracy"]) >= 0.99
    assert body["input_name"] and body["output_name"]


def test_openapi_document_and_docs(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/predict", "/predict/batch", "/health", "/livez", "/readyz", "/model", "/"):
        assert path in spec["paths"]
    request = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "PredictRequest" in request["schema"]["$ref"]
    assert {"200", "422", "415", "400"} <= set(spec["paths"]["/predict"]["post"]["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.data.lower()
