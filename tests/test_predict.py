"""Prediction and error routes through the Flask test client, with the real model."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.inference.model import KEY
from tests.support import Digits

FLAT = [0.5] * 784


def assert_error(response: TestResponse, status: int) -> dict[str, Any]:
    """Check a response is a JSON error of the common shape; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_predict_returns_digit_confidence_and_probabilities(
        client: FlaskClient, digit: tuple[list[float], int]) -> None:
    pixels, label = digit
    body = client.post("/predict", json={"data": pixels}).get_json()
    assert body["prediction"] == label
    assert len(body["probabilities"]) == 10
    assert body["confidence"] == max(body["probabilities"])
    assert body["probabilities"].index(body["confidence"]) == label
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)


def test_predict_accepts_28x28(client: FlaskClient, digit: tuple[list[float], int]) -> None:
    pixels, label = digit
    nested = [pixels[row * 28:(row + 1) * 28] for row in range(28)]
    flat_answer = client.post("/predict", json={"data": pixels}).get_json()
    nested_answer = client.post("/predict", json={"data": nested}).get_json()
    assert nested_answer == flat_answer
    assert nested_answer["prediction"] == label


def test_predict_ignores_unknown_fields(client: FlaskClient,
                                        digit: tuple[list[float], int]) -> None:
    response = client.post("/predict", json={"data": digit[0], "client": "old", "extra": [1]})
    assert response.status_code == 200
    assert response.get_json()["prediction"] == digit[1]


def test_batch_matches_single_predictions(client: FlaskClient, heldout: Digits) -> None:
    images, labels = heldout
    instances = images[:32].tolist()
    body = client.post("/predict/batch", json={"instances": instances}).get_json()
    assert body["count"] == 32
    singles = [client.post("/predict", json={"data": image}).get_json() for image in instances[:4]]
    assert body["predictions"][:4] == singles
    correct = sum(p["prediction"] == y for p, y in zip(body["predictions"], labels[:32],
                                                       strict=True))
    assert correct >= 30


def test_batch_of_one_and_of_max(client: FlaskClient) -> None:
    for size in (1, 256):
        body = client.post("/predict/batch", json={"instances": [FLAT] * size}).get_json()
        assert body["count"] == size == len(body["predictions"])


@pytest.mark.parametrize("body", [
    {}, {"image": FLAT}, {"data": None}, {"data": [0.5] * 100}, {"data": [0.5] * 1000},
    {"data": ["0.5"] * 784}, {"data": [None] * 784}, {"data": [True] * 784},
    {"data": [[0.5] * 27] * 28}, {"data": [255] * 784}, {"data": [-1] + [0.5] * 783}, [FLAT],
    "just a string",
])
def test_invalid_predict_body_is_422(client: FlaskClient, body: Any) -> None:
    error = assert_error(client.post("/predict", json=body), 422)
    assert "json" in error["errors"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400_saying_where(client: FlaskClient, literal: str) -> None:
    # They are not JSON (RFC 8259); the one parse refuses them and says where they are.
    raw = "{\"data\": [" + ", ".join(["0.5"] * 783 + [literal]) + "]}"
    response = client.post("/predict", data=raw, content_type="application/json")
    message = assert_error(response, 400)["message"]
    column = raw.index(literal.lstrip("-")) + 1
    assert f"NaN and Infinity are not JSON numbers (line 1, column {column})" in message


@pytest.mark.parametrize("raw", ['{"data": [0.5, ', "{data: 1}", "\xff\xfe", "[1, 2]]"])
def test_malformed_json_is_400(client: FlaskClient, raw: str) -> None:
    response = client.post("/predict", data=raw.encode("latin-1"), content_type="application/json")
    assert "not valid JSON" in assert_error(response, 400)["message"]


def test_empty_body_is_400(client: FlaskClient) -> None:
    response = client.post("/predict", data=b"", content_type="application/json")
    assert "empty" in assert_error(response, 400)["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    response = client.post("/predict", data=b'{"data": []}', content_type=content_type)
    assert_error(response, 415)


def test_json_suffix_media_type_is_accepted(client: FlaskClient,
                                            digit: tuple[list[float], int]) -> None:
    raw = client.application.json.dumps({"data": digit[0]})
    response = client.post("/predict", data=raw, content_type="application/vnd.api+json")
    assert response.status_code == 200


def test_body_over_limit_is_413() -> None:
    small = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 10_000})
    response = small.test_client().post("/predict/batch", json={"instances": [FLAT] * 8})
    assert_error(response, 413)


def test_batch_over_limit_is_422(client: FlaskClient) -> None:
    error = assert_error(client.post("/predict/batch", json={"instances": [FLAT] * 257}), 422)
    assert "1 to 256" in error["errors"]["json"]["instances"][0]


def test_batch_names_bad_instance(client: FlaskClient) -> None:
    body = {"instances": [FLAT, FLAT, [0.5] * 10]}
    error = assert_error(client.post("/predict/batch", json=body), 422)
    assert list(error["errors"]["json"]["instances"]) == ["2"]


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert_error(client.get("/nope"), 404)


@pytest.mark.parametrize(("method", "path", "allowed"),
                         [("get", "/predict", "OPTIONS, POST"),
                          ("put", "/predict/batch", "OPTIONS, POST"),
                          ("post", "/health", "GET, HEAD, OPTIONS"),
                          ("delete", "/", "GET, HEAD, OPTIONS")])
def test_wrong_method_is_405_naming_the_allowed_ones(client: FlaskClient, method: str, path: str,
                                                     allowed: str) -> None:
    response = getattr(client, method)(path)
    assert_error(response, 405)
    assert response.headers["Allow"] == allowed  # RFC 9110: a 405 must say what is allowed


def test_unexpected_failure_is_json_500_without_trace(
        app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    quiet = create_app({"PROPAGATE_EXCEPTIONS": False})
    model = quiet.extensions[KEY]

    def explode(batch: object) -> object:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(model, "predict", explode)
    response = quiet.test_client().post("/predict", json={"data": FLAT})
    body = assert_error(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert body["status"] == "Internal Server Error"
    assert "secret internal detail" in caplog.text
    # The service keeps serving after the failure.
    monkeypatch.undo()
    assert quiet.test_client().post("/predict", json={"data": FLAT}).status_code == 200


def test_chunked_body_over_limit_is_413() -> None:
    small = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 10_000})
    body = b'{"data": [' + b"0.5," * 5_000 + b"0.5]}"
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    response = small.test_client().post("/predict", input_stream=io.BytesIO(body),
                                        environ_overrides={"wsgi.input_terminated": True},
                                        headers=headers)
    assert_error(response, 413)



@pytest.mark.parametrize(("path", "body"), [
    ("/predict", {"data": FLAT}),
    ("/predict/batch", {"instances": [FLAT]}),
])
def test_a_real_inference_failure_is_a_503_that_keeps_onnxruntime_text_in_the_log(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        path: str, body: dict[str, Any]) -> None:
    """onnxruntime itself refuses the batch: the client gets a plain 503, the log the reason."""
    from app.routes import predict as predict_routes

    def wrong_shape(_: object) -> np.ndarray:
        return np.zeros((1, 1, 27, 27), dtype=np.float32)

    monkeypatch.setattr(predict_routes, "to_batch", wrong_shape)
    with caplog.at_level("ERROR"):
        failed = assert_error(client.post(path, json=body), 503)
    assert failed["message"] == "inference failed; the server log has the details"
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "ModelUnavailableError: inference failed" in logged
    assert "ONNXRuntimeError" in logged and "INVALID_ARGUMENT" in logged, logged
    monkeypatch.undo()
    assert client.post(path, json=body).status_code == 200


@pytest.mark.parametrize(("path", "kwargs", "words"), [
    ("/predict", {"json": {"instances": [FLAT]}}, "a batch, {\"instances\": [...]}, goes to "
                                                  "/predict/batch"),
    ("/predict/batch", {"json": {"data": FLAT}}, "one image, {\"data\": [784 values]}, goes "
                                                 "to /predict"),
    ("/predict", {"data": b"\x89PNG\r\n\x1a\n", "content_type": "image/png"},
     "a picture goes to /predict/image"),
    ("/predict/batch", {"data": b"--b--", "content_type": "multipart/form-data; boundary=b"},
     "a picture goes to /predict/image"),
])
def test_a_body_meant_for_another_route_says_which(client: FlaskClient, path: str,
                                                   kwargs: dict[str, Any], words: str) -> None:
    response = client.post(path, **kwargs)
    assert response.status_code in (415, 422)
    assert words in json.dumps(response.json).replace("\\\"", "\""), response.json
