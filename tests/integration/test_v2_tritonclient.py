"""The Open Inference Protocol against a real Gunicorn, judged by NVIDIA's tritonclient[http]."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from app.config import VERSION
from tests.integration.conftest import Server
from tests.integration.test_limits import assert_still_ready
from tests.integration.test_limits import raw_request
from tests.support import REPO_ROOT
from tests.support import Digits

pytestmark = pytest.mark.integration
MODEL = "digitserve-mnist-cnn"


@pytest.fixture(scope="module")
def triton(live_server: Server) -> Iterator[httpclient.InferenceServerClient]:
    """Return a tritonclient HTTP client for the live server (it takes host:port, no scheme)."""
    with httpclient.InferenceServerClient(live_server.url.removeprefix("http://")) as triton:
        yield triton


@pytest.fixture(scope="module")
def version(triton: httpclient.InferenceServerClient) -> str:
    versions: list[str] = triton.get_model_metadata(MODEL)["versions"]
    return versions[0]


def image_input(images: np.ndarray, *, binary: bool = True,
                datatype: str = "FP32") -> httpclient.InferInput:
    tensor = httpclient.InferInput("image", list(images.shape), datatype)
    tensor.set_data_from_numpy(images, binary_data=binary)
    return tensor


def digits(heldout: Digits, count: int, shape: tuple[int, ...] = (1, 28, 28)) -> np.ndarray:
    return heldout[0][:count].astype(np.float32).reshape(count, *shape)


def predict_batch_labels(server: Server, images: np.ndarray) -> list[int]:
    answer = requests.post(f"{server.url}/predict/batch", timeout=10,
                           json={"instances": images.reshape(len(images), 784).tolist()})
    return [p["prediction"] for p in answer.json()["predictions"]]


def test_health_and_metadata(triton: httpclient.InferenceServerClient, version: str) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(MODEL) and triton.is_model_ready(MODEL, version)
    assert not triton.is_model_ready("fashion")
    assert not triton.is_model_ready(MODEL, "0.0.0")
    assert triton.get_server_metadata() == {"name": "digitserve", "version": VERSION,
                                            "extensions": ["binary_tensor_data"]}
    metadata = triton.get_model_metadata(MODEL, version)
    assert metadata == triton.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL and metadata["versions"] == [version]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "image", "datatype": "FP32",
                                   "shape": [-1, 1, 28, 28]}]
    assert metadata["outputs"] == [{"name": "probabilities", "datatype": "FP32",
                                    "shape": [-1, 10]},
                                   {"name": "label", "datatype": "INT64", "shape": [-1]}]


def test_64_heldout_digits_get_the_labels_of_predict_batch(
        live_server: Server, triton: httpclient.InferenceServerClient, heldout: Digits) -> None:
    images = digits(heldout, 64)
    result = triton.infer(MODEL, [image_input(images)], request_id="heldout-64")
    labels = result.as_numpy("label")
    assert labels.dtype == np.int64 and labels.shape == (64,)
    assert labels.tolist() == predict_batch_labels(live_server, images)
    assert (labels == heldout[1][:64]).mean() >= 0.95
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (64, 10)
    assert (probabilities.argmax(axis=1) == labels).all()
    assert result.get_response()["id"] == "heldout-64"


@pytest.mark.parametrize("shape", [(1, 28, 28), (28, 28), (784,)])
@pytest.mark.parametrize(("binary_in", "binary_out"), [(True, True), (False, False),
                                                       (True, False), (False, True)])
def test_json_and_binary_tensors_in_every_shape(
        triton: httpclient.InferenceServerClient, version: str, heldout: Digits,
        shape: tuple[int, ...], binary_in: bool, binary_out: bool) -> None:
    images = digits(heldout, 5, shape)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary_out)
               for name in ("probabilities", "label")]
    result = triton.infer(MODEL, [image_input(images, binary=binary_in)], outputs=outputs,
                          model_version=version)
    assert result.as_numpy("label").tolist() == heldout[1][:5].tolist()
    assert result.as_numpy("probabilities").shape == (5, 10)
    for output in result.get_response()["outputs"]:
        assert ("data" not in output) == binary_out


def test_requested_outputs_only(triton: httpclient.InferenceServerClient,
                                heldout: Digits) -> None:
    result = triton.infer(MODEL, [image_input(digits(heldout, 3, (784,)))],
                          outputs=[httpclient.InferRequestedOutput("label")])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    assert result.as_numpy("probabilities") is None
    assert result.as_numpy("label").tolist() == heldout[1][:3].tolist()


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(triton: httpclient.InferenceServerClient, heldout: Digits,
                             algorithm: str) -> None:
    result = triton.infer(MODEL, [image_input(digits(heldout, 4))],
                          request_compression_algorithm=algorithm,
                          response_compression_algorithm=algorithm)
    assert result.as_numpy("label").tolist() == heldout[1][:4].tolist()


def bad(images: Any, **kwargs: Any) -> list[httpclient.InferInput]:
    return [image_input(np.asarray(images), **kwargs)]


ERRORS = {
    "FP64 datatype": (lambda: bad(np.zeros((1, 784)), datatype="FP64"), "400", "must be FP32"),
    "INT32 as JSON": (lambda: bad(np.zeros((1, 784), np.int32), datatype="INT32",
                                  binary=False), "400", "must be FP32"),
    "shape [2, 3]": (lambda: bad(np.zeros((2, 3), np.float32)), "400", "has shape [2, 3]"),
    "wrong name": (lambda: [httpclient.InferInput("pixels", [1, 784], "FP32")
                            .set_data_from_numpy(np.zeros((1, 784), np.float32))], "400",
                   "the request has ['pixels']"),
    "255 not 1": (lambda: bad(np.full((1, 784), 255, np.float32)), "400", "scale 0-255"),
    "NaN": (lambda: bad(np.full((1, 784), np.nan, np.float32)), "400", "NaN"),
    "infinity": (lambda: bad(np.full((1, 784), np.inf, np.float32)), "400", "found inf"),
    "over MAX_BATCH": (lambda: bad(np.zeros((257, 784), np.float32)), "400", "N from 1 to 256"),
    "over the body limit": (lambda: bad(np.zeros((1400, 784), np.float32)), "413", "limit"),
}


@pytest.mark.parametrize(("inputs", "status", "message"), ERRORS.values(), ids=ERRORS)
def test_errors_reach_the_client(triton: httpclient.InferenceServerClient, inputs: Any,
                                 status: str, message: str) -> None:
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(MODEL, inputs())
    assert caught.value.status() == status
    assert message in caught.value.message()


def test_unknown_model_version_and_output(triton: httpclient.InferenceServerClient) -> None:
    image = [image_input(np.zeros((1, 784), np.float32))]
    for call, message in [
        (lambda: triton.infer("fashion", image), "Unknown model 'fashion'"),
        (lambda: triton.infer(MODEL, image, model_version="0.0.0"), "Unknown version '0.0.0'"),
        (lambda: triton.get_model_metadata("fashion"), "Unknown model"),
        (lambda: triton.get_model_config(MODEL), "not found"),  # no such route: still v2 shape
    ]:
        with pytest.raises(InferenceServerException) as caught:
            call()
        assert caught.value.status() == "404" and message in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(MODEL, image, outputs=[httpclient.InferRequestedOutput("logits")])
    assert caught.value.status() == "400" and "Unknown output 'logits'" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(MODEL, image, outputs=[httpclient.InferRequestedOutput("label",
                                                                           class_count=2)])
    assert "classification extension is not supported" in caught.value.message()


def malformed(body: bytes, header_length: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Corrupt a tritonclient-made binary request in the ways a broken client could."""
    header = orjson.loads(body[:header_length])
    rest = body[header_length:]

    def with_size(size: Any) -> bytes:
        header["inputs"][0]["parameters"]["binary_data_size"] = size
        return orjson.dumps(header)

    cases = [("header length past the body", body, str(len(body) + 1)),
             ("header length not a number", body, "twelve"),
             ("negative header length", body, "-1"),
             ("body cut short", body[:-1], str(header_length)),
             ("trailing bytes", body + b"\0", str(header_length))]
    for size in (-4, len(rest) + 4, 2 ** 63, 1.5, "3136"):
        encoded = with_size(size)
        cases.append((f"binary_data_size {size!r}", encoded + rest, str(len(encoded))))
    return [(name, data, {"Inference-Header-Content-Length": length})
            for name, data, length in cases]


def test_malformed_binary_framing_is_400(live_server: Server, heldout: Digits) -> None:
    body, header_length = httpclient.InferenceServerClient.generate_request_body(
        [image_input(digits(heldout, 1))])
    assert header_length is not None
    infer = requests.post(f"{live_server.url}/v2/models/{MODEL}/infer", data=body, timeout=5,
                          headers={"Inference-Header-Content-Length": str(header_length)})
    assert infer.status_code == 200
    for name, data, headers in malformed(body, header_length):
        response = requests.post(f"{live_server.url}/v2/models/{MODEL}/infer", data=data,
                                 headers=headers, timeout=5)
        assert response.status_code == 400, (name, response.text)
        assert set(response.json()) == {"error"}, name


def test_broken_chunked_framing_and_chunked_bodies_over_the_limit(live_server: Server) -> None:
    request = (b"POST /v2/models/digitserve-mnist-cnn/infer HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    head, _, body = raw_request(live_server, request).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and body.startswith(b'{"error":"The request body')

    def chunks() -> Iterator[bytes]:  # a generator body goes chunked: no Content-Length
        for _ in range(65):
            yield b"\0" * 65536

    response = requests.post(f"{live_server.url}/v2/models/{MODEL}/infer", data=chunks(),
                             headers={"Inference-Header-Content-Length": "2"}, timeout=10)
    assert response.status_code == 413 and set(response.json()) == {"error"}
    assert_still_ready(live_server)


def test_readme_snippet_runs(live_server: Server, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO_ROOT / "docs" / "api.md").read_text()
    snippet = re.search(r"```python\n((?:(?!```).)*?import tritonclient.*?)```", readme,
                        re.DOTALL)
    assert snippet, "no tritonclient snippet in docs/api.md"
    code = snippet[1].replace("localhost:8000", live_server.url.removeprefix("http://"))
    monkeypatch.chdir(REPO_ROOT)
    exec(compile(code, "docs/api.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    instances = orjson.loads((REPO_ROOT / "examples" / "batch.json").read_bytes())["instances"]
    labels = predict_batch_labels(live_server, np.array(instances, np.float32))
    assert printed.split("\n")[0] == str(np.array(labels)), printed


def test_readme_curl_example(live_server: Server) -> None:
    body = (REPO_ROOT / "examples" / "v2_infer.json").read_bytes()
    answer = requests.post(f"{live_server.url}/v2/models/{MODEL}/infer", data=body,
                           headers={"Content-Type": "application/json"}, timeout=5)
    assert answer.status_code == 200
    readme = (REPO_ROOT / "docs" / "api.md").read_text()
    shown = re.search(r"-d @examples/v2_infer.json\n(\{.*\})\n", readme)  # a console block
    assert shown, "no answer shown under the curl example"
    # The README shows the version of the model it was written with.
    assert {**answer.json(), "model_version": "-"} == {**orjson.loads(shown[1]),
                                                       "model_version": "-"}
