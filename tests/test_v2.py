"""The Open Inference Protocol (v2) routes through the Flask test client, one process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from app.config import VERSION
from app.inference.model import KEY
from app.web.errors import ModelUnavailableError
from tests.support import Digits
from tests.support import sample_value
from tests.test_properties import RELAXED
from tests.test_properties import json_values

NAME = "digitserve-mnist-cnn"  # the model file's metadata name
MODEL = f"/v2/models/{NAME}"
INFER = f"{MODEL}/infer"
HEADER = "Inference-Header-Content-Length"


def binary_body(images: np.ndarray, shape: list[int], **request: Any) -> tuple[bytes, str]:
    """Return a binary-extension body for float32 images, and its header length."""
    raw = images.astype(np.float32).tobytes()
    header = orjson.dumps({**request, "inputs": [{"name": "image", "shape": shape,
                                                  "datatype": "FP32",
                                                  "parameters": {"binary_data_size": len(raw)}}]})
    return header + raw, str(len(header))


def json_request(images: np.ndarray, shape: list[int], **request: Any) -> dict[str, Any]:
    return {**request, "inputs": [{"name": "image", "shape": shape, "datatype": "FP32",
                                   "data": images.reshape(shape).tolist()}]}


def assert_v2_error(response: Any, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and fragment in body["error"], body


def test_server_metadata_and_health(client: FlaskClient) -> None:
    assert client.get("/v2").get_json() == {"name": "digitserve", "version": VERSION,
                                            "extensions": ["binary_tensor_data"]}
    for path in ("/v2/health/live", "/v2/health/ready", f"{MODEL}/ready"):
        response = client.get(path)
        assert response.status_code == 200 and response.data == b""
        assert "Content-Type" not in response.headers


def test_model_metadata(app: Flask, client: FlaskClient) -> None:
    version = app.extensions[KEY].info.version
    expected = {"name": NAME, "versions": [version], "platform": "onnxruntime_onnx",
                "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
                "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                            {"name": "label", "datatype": "INT64", "shape": [-1]}]}
    assert client.get(MODEL).get_json() == expected
    assert client.get(f"{MODEL}/versions/{version}").get_json() == expected
    assert client.get(f"{MODEL}/versions/{version}/ready").status_code == 200


@pytest.mark.parametrize("path", ["/v2/models/fashion", "/v2/models/fashion/ready",
                                  f"{MODEL}/versions/0.0.0",
                                  f"{MODEL}/versions/0.0.0/ready"])
def test_unknown_model_or_version_is_404(client: FlaskClient, path: str) -> None:
    assert_v2_error(client.get(path), 404, "Unknown")
    assert_v2_error(client.post(path.removesuffix("/ready") + "/infer", data=b"{}"), 404,
                    "Unknown")


def test_not_ready_while_draining_or_when_the_model_fails(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    drain_file = tmp_path / "drain"
    drain_file.touch()
    monkeypatch.setitem(app.config, "DRAIN_FILE", str(drain_file))
    assert client.get("/v2/health/ready").status_code == 400
    assert client.get("/v2/health/live").status_code == 200
    monkeypatch.setitem(app.config, "DRAIN_FILE", "")

    def fail() -> None:
        raise ModelUnavailableError("injected")

    monkeypatch.setattr(app.extensions[KEY], "check", fail)
    for path in ("/v2/health/ready", f"{MODEL}/ready"):
        response = client.get(path)
        assert response.status_code == 400 and response.data == b""


@pytest.mark.parametrize("shape", [[8, 1, 28, 28], [8, 28, 28], [8, 784]])
def test_binary_and_json_tensors_agree_with_predict_batch(client: FlaskClient, heldout: Digits,
                                                          shape: list[int]) -> None:
    images = heldout[0][:8]
    expected = [p["prediction"] for p in client.post(
        "/predict/batch", json={"instances": images.tolist()}).get_json()["predictions"]]
    body, length = binary_body(images, shape, parameters={"binary_data_output": True})
    response = client.post(INFER, data=body, headers={HEADER: length})
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    header_length = int(response.headers[HEADER])
    answer = orjson.loads(response.data[:header_length])
    assert [o["parameters"]["binary_data_size"] for o in answer["outputs"]] == [320, 64]
    labels = np.frombuffer(response.data[header_length + 320:], "<i8")
    assert labels.tolist() == expected == heldout[1][:8].tolist()

    response = client.post(INFER, json=json_request(images, shape))
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert HEADER not in response.headers
    outputs = {o["name"]: o for o in response.get_json()["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "INT64", "shape": [8],
                                "data": expected}
    probabilities = np.array(outputs["probabilities"]["data"]).reshape(8, 10)
    assert probabilities.argmax(axis=1).tolist() == expected
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_requested_outputs_only_and_id_echoed(app: Flask, client: FlaskClient,
                                              heldout: Digits) -> None:
    version = app.extensions[KEY].info.version
    request = json_request(heldout[0][:2], [2, 784], id="req-7",
                           outputs=[{"name": "label"}])
    response = client.post(f"{MODEL}/versions/{version}/infer", json=request)
    assert response.get_json() == {
        "model_name": NAME, "model_version": version, "id": "req-7",
        "outputs": [{"name": "label", "datatype": "INT64", "shape": [2],
                     "data": heldout[1][:2].tolist()}]}


def test_errors_have_the_protocols_shape(client: FlaskClient) -> None:
    assert_v2_error(client.post(INFER, data=b""), 400, "The request body is empty")
    assert_v2_error(client.post(INFER, data=b"{nope"), 400, "not valid JSON")
    assert_v2_error(client.post(INFER, json={"inputs": [{"name": "image", "shape": [1, 784],
                                                         "datatype": "FP16", "data": []}]}),
                    400, "must be FP32")
    assert_v2_error(client.post(INFER, data=b"{}", headers={HEADER: "3"}), 400,
                    "is 3 but the body has 2 bytes")
    assert_v2_error(client.get(INFER), 405, "not allowed")
    assert client.get(INFER).headers["Allow"] == "OPTIONS, POST"
    assert_v2_error(client.get(f"{MODEL}/config"), 404, "not found")
    assert_v2_error(client.post(INFER, data=b"0" * (4 * 1024 * 1024 + 1)), 413, "limit")
    assert_v2_error(client.post(INFER, data=b"{}", headers={"Content-Encoding": "br"}), 415,
                    "not supported")
    # Outside /v2 the service's own error shape is unchanged.
    assert client.get("/v3/models").get_json()["code"] == 404


def test_failed_inference_is_503(app: Flask, client: FlaskClient,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise ModelUnavailableError("inference failed: injected")

    monkeypatch.setattr(app.extensions[KEY], "probabilities", fail)
    body, length = binary_body(np.zeros((1, 784)), [1, 784])
    assert_v2_error(client.post(INFER, data=body, headers={HEADER: length}), 503, "injected")


def test_metrics_request_ids_and_the_openapi_document(client: FlaskClient) -> None:
    body, length = binary_body(np.zeros((3, 784)), [3, 784])
    before = client.get("/metrics").get_data(as_text=True)
    response = client.post(INFER, data=body, headers={HEADER: length, "X-Request-ID": "v2-1"})
    assert response.headers["X-Request-ID"] == "v2-1"
    client.get("/v2/models/nope")
    after = client.get("/metrics").get_data(as_text=True)

    def delta(metric: str, **labels: str) -> float:
        return sample_value(after, metric, **labels) - sample_value(before, metric, **labels)

    requests = "digitserve_http_requests_total"
    assert delta(requests, endpoint="/v2/models/<model_name>/infer", status="200") == 1
    assert delta(requests, endpoint="/v2/models/<model_name>", status="404") == 1
    assert delta("digitserve_inference_batch_size_sum") == 3

    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{model_name}",
            "/v2/models/{model_name}/ready", "/v2/models/{model_name}/infer",
            "/v2/models/{model_name}/versions/{model_version}",
            "/v2/models/{model_name}/versions/{model_version}/ready",
            "/v2/models/{model_name}/versions/{model_version}/infer"} <= set(paths)
    infer = paths["/v2/models/{model_name}/infer"]["post"]
    assert set(infer["requestBody"]["content"]) == {"application/json",
                                                    "application/octet-stream"}
    for status in ("400", "404", "413", "503"):
        schema = infer["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/V2Error"}


def test_v2_adds_no_per_request_hook_for_other_routes(app: Flask) -> None:
    # Only the v2 blueprint's requests run its URL check; /predict pays nothing for it.
    assert not app.url_value_preprocessors.get(None)
    assert not app.before_request_funcs.get(None)
    assert list(app.url_value_preprocessors) == ["v2"]


HOSTILE = {
    "header length past the body": (b"{}", "3"),
    "header length negative": (b"{}", "-2"),
    "header length huge": (b"{}", "9" * 40),
    "header length not a number": (b"{}", "0x10"),
    "header not JSON, binary after it": (b"\x00\x01\x02\x03" * 8, "4"),
    "header nested 2000 deep": (b"[" * 2000 + b"]" * 2000, None),
    "header a JSON string": (b'"inputs"', None),
    "binary_data_size negative": (b'{"inputs": [{"name": "image", "shape": [1, 784], '
                                  b'"datatype": "FP32", "parameters": {"binary_data_size": -1}}]}',
                                  None),
    "binary_data_size huge": (b'{"inputs": [{"name": "image", "shape": [1, 784], '
                              b'"datatype": "FP32", "parameters": {"binary_data_size": '
                              b'18446744073709551615}}]}', None),
    "binary_data_size past the body": (b'{"inputs": [{"name": "image", "shape": [1, 784], '
                                       b'"datatype": "FP32", "parameters": '
                                       b'{"binary_data_size": 3136}}]}', None),
    "shape of 10^30 images": (b'{"inputs": [{"name": "image", "shape": [1000000000000000000000000'
                              b'000000, 784], "datatype": "FP32", "data": []}]}', None),
    "data nested 1000 deep": (b'{"inputs": [{"name": "image", "shape": [1, 784], "datatype": '
                              b'"FP32", "data": ' + b"[" * 1000 + b"]" * 1000 + b"}]}", None),
}


@pytest.mark.parametrize(("body", "length"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_bodies_are_400(client: FlaskClient, body: bytes, length: str | None) -> None:
    headers = {HEADER: length} if length is not None else {}
    assert_v2_error(client.post(INFER, data=body, headers=headers), 400)


def assert_v2_answer(response: Any) -> None:
    """A 200, or a 4xx in the protocol's error shape; never a 5xx."""
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.data
    if response.status_code != 200:
        assert set(response.get_json()) == {"error"}


header_lengths = st.none() | st.integers(-3, 400).map(str) | st.text(
    st.characters(min_codepoint=33, max_codepoint=126), max_size=6)


@RELAXED
@given(body=st.binary(max_size=300), length=header_lengths)
def test_any_bytes_are_answered(client: FlaskClient, body: bytes, length: str | None) -> None:
    headers = {HEADER: length} if length is not None else {}
    assert_v2_answer(client.post(INFER, data=body, headers=headers))


tensors = st.fixed_dictionaries({
    "name": st.sampled_from(["image", "x"]),
    "shape": st.lists(st.integers(-2, 300) | st.sampled_from([1, 28, 784]), max_size=5),
    "datatype": st.sampled_from(["FP32", "FP64", "INT64", 3]),
}, optional={"parameters": st.dictionaries(
    st.sampled_from(["binary_data_size", "shared_memory_region", "other"]),
    st.integers(-10, 10_000) | json_values, max_size=2), "data": json_values})
requests_ = st.fixed_dictionaries({"inputs": st.lists(tensors, max_size=2)}, optional={
    "id": json_values, "outputs": st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["label", "probabilities", "x"])},
        optional={"parameters": st.dictionaries(st.sampled_from(
            ["binary_data", "classification"]), json_values, max_size=2)}), max_size=3),
    "parameters": st.dictionaries(st.sampled_from(["binary_data_output", "p"]), json_values,
                                  max_size=2)})


@RELAXED
@given(document=requests_, binary=st.binary(max_size=64) | st.just(b"\0" * 3136))
def test_nearly_valid_requests_are_answered(client: FlaskClient, document: dict[str, Any],
                                            binary: bytes) -> None:
    header = json.dumps(document).encode()  # any integer, and NaN, as a careless client writes
    response = client.post(INFER, data=header + binary, headers={HEADER: str(len(header))})
    assert_v2_answer(response)
