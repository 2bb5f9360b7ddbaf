"""The Open Inference Protocol codec alone: framing, tensors, request decoding, answer encoding."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from app.inference import tensors
from app.inference.tensors import RequestError
from app.inference.v2codec import InferenceRequest
from app.inference.v2codec import RequestedOutput
from app.inference.v2codec import decode_request
from app.inference.v2codec import encode_response
from app.inference.v2framing import split_body
from tests.support import Digits

NO_BINARY = memoryview(b"")


def image_input(shape: list[int], **fields: Any) -> dict[str, Any]:
    return {"name": "image", "shape": shape, "datatype": "FP32", **fields}


@pytest.fixture(scope="module")
def three(heldout: Digits) -> np.ndarray:
    """Three held-out digits as float32 (3, 784)."""
    return heldout[0][:3].astype(np.float32)


@pytest.mark.parametrize("shape", [[3, 1, 28, 28], [3, 28, 28], [3, 784]])
def test_binary_and_json_give_the_same_batch(three: np.ndarray, shape: list[int]) -> None:
    raw = three.tobytes()
    binary = decode_request({"inputs": [image_input(shape, parameters={
        "binary_data_size": len(raw)})]}, memoryview(raw), max_batch=256)
    flat = decode_request({"inputs": [image_input(shape, data=three.ravel().tolist())]},
                          NO_BINARY, max_batch=256)
    nested = decode_request({"inputs": [image_input(shape, data=three.reshape(shape).tolist())]},
                            NO_BINARY, max_batch=256)
    for request in (binary, flat, nested):
        assert request.batch.shape == (3, 1, 28, 28)
        assert request.batch.dtype == np.float32
        np.testing.assert_array_equal(request.batch.reshape(3, 784), three)


def test_binary_input_is_not_copied(three: np.ndarray) -> None:
    raw = three.tobytes()
    request = decode_request({"inputs": [image_input([3, 784], parameters={
        "binary_data_size": len(raw)})]}, memoryview(raw), max_batch=256)
    assert not request.batch.flags.owndata  # a view on the request body


def test_defaults_and_requested_outputs(three: np.ndarray) -> None:
    document = {"id": "42", "inputs": [image_input([3, 784], data=three.ravel().tolist())]}
    request = decode_request(document, NO_BINARY, max_batch=256)
    assert request.id == "42"
    assert request.outputs == (RequestedOutput("probabilities", False),
                               RequestedOutput("label", False))
    document["parameters"] = {"binary_data_output": True, "custom": "ignored"}
    assert all(output.binary for output in decode_request(document, NO_BINARY,
                                                          max_batch=256).outputs)
    document["outputs"] = [{"name": "label"}, {"name": "probabilities",
                                               "parameters": {"binary_data": False}}]
    assert decode_request(document, NO_BINARY, max_batch=256).outputs == (
        RequestedOutput("label", True), RequestedOutput("probabilities", False))


BAD_DOCUMENTS = {
    "not an object": ([], "Invalid inference request: Invalid input type."),
    "no inputs": ({}, "inputs: Missing data for required field."),
    "empty inputs": ({"inputs": []}, "inputs: Shorter than minimum length 1."),
    "wrong name": ({"inputs": [{**image_input([1, 784], data=[0] * 784), "name": "x"}]},
                   "the request has ['x']"),
    "two inputs": ({"inputs": [image_input([1, 784], data=[0] * 784)] * 2}, "one input"),
    "FP64": ({"inputs": [{**image_input([1, 784], data=[0] * 784), "datatype": "FP64"}]},
             "must be FP32, got 'FP64'"),
    "shape 3 x 3": ({"inputs": [image_input([3, 3], data=[0] * 9)]}, "has shape [3, 3]"),
    "N = 0": ({"inputs": [image_input([0, 784], data=[])]}, "N from 1 to 256"),
    "N over MAX_BATCH": ({"inputs": [image_input([257, 784], data=[])]}, "N from 1 to 256"),
    "negative N": ({"inputs": [image_input([-1, 784], data=[])]}, "has shape [-1, 784]"),
    "boolean dimension": ({"inputs": [image_input([True, 784], data=[])]},
                          "inputs[0].shape[0]: Not a valid integer."),
    "no data": ({"inputs": [image_input([1, 784])]}, "neither data nor binary_data_size"),
    "data not a list": ({"inputs": [image_input([1, 784], data={"a": 1})]}, "got an object"),
    "too few values": ({"inputs": [image_input([1, 784], data=[0] * 783)]}, "has 783 values"),
    "a string": ({"inputs": [image_input([1, 784], data=[0] * 783 + ["0"])]}, "got a string"),
    "a boolean": ({"inputs": [image_input([1, 784], data=[0] * 783 + [True])]}, "a boolean"),
    "a null": ({"inputs": [image_input([1, 784], data=[0] * 783 + [None])]}, "got null"),
    "ragged rows": ({"inputs": [image_input([2, 784], data=[[0] * 784, [0] * 783])]},
                    "data nests as [2]"),
    "deeper than the shape": ({"inputs": [image_input([1, 784], data=[[[0]] * 784])]},
                              "nests as [1, 784, 1]"),
    "deeper in one place": ({"inputs": [image_input([1, 784], data=[[0] * 783 + [[0]]])]},
                            "got an array"),
    "nested the wrong way": ({"inputs": [image_input([1, 784], data=[[0]] * 784)]},
                             "nests as [784, 1]; its shape is [1, 784]"),
    "out of range": ({"inputs": [image_input([1, 784], data=[0] * 783 + [255])]},
                     "image 0: Pixel values must be in [0, 1] (scale 0-255 by 1/255); found "
                     "255 at pixel 783."),
    "negative": ({"inputs": [image_input([1, 784], data=[-0.5] + [0] * 783)]}, "found -0.5"),
    "over float32": ({"inputs": [image_input([1, 784], data=[1e300] * 784)]}, "found 1e+300"),
    "huge integer": ({"inputs": [image_input([1, 784], data=[10 ** 400] * 784)]},
                     "found a huge integer"),
    "unknown output": ({"inputs": [image_input([1, 784], data=[0] * 784)],
                        "outputs": [{"name": "logits"}]}, "Unknown output 'logits'"),
    "output twice": ({"inputs": [image_input([1, 784], data=[0] * 784)],
                      "outputs": [{"name": "label"}] * 2}, "asked for twice"),
    "classification": ({"inputs": [image_input([1, 784], data=[0] * 784)],
                        "outputs": [{"name": "label", "parameters": {"classification": 3}}]},
                       "classification extension is not supported"),
    "shared memory": ({"inputs": [image_input([1, 784], parameters={
        "shared_memory_region": "r", "shared_memory_byte_size": 3136})]}, "shared memory"),
    "binary_data not a boolean": ({"inputs": [image_input([1, 784], data=[0] * 784)],
                                   "outputs": [{"name": "label",
                                                "parameters": {"binary_data": 1}}]},
                                  "binary_data must be true or false"),
    "a parameter that is an object": ({"parameters": {"p": {}}, "inputs": [
        image_input([1, 784], data=[0] * 784)]}, "parameters.p.value"),
    "id a number": ({"id": 7, "inputs": [image_input([1, 784], data=[0] * 784)]},
                    "id: Not a valid string."),
}


@pytest.mark.parametrize(("document", "message"), BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS)
def test_bad_documents_say_why(document: Any, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        decode_request(document, NO_BINARY, max_batch=256)
    assert message in str(caught.value)


def test_nesting_deeper_than_numpy_is_refused() -> None:
    data: Any = 0.5
    for _ in range(1000):
        data = [data]
    with pytest.raises(RequestError, match="levels deep"):
        decode_request({"inputs": [image_input([1, 784], data=data)]}, NO_BINARY, max_batch=256)


BINARY_SIZE = 784 * 4
BAD_BINARY = {
    "short": ({"binary_data_size": BINARY_SIZE}, b"\0" * (BINARY_SIZE - 1), "has 3135 bytes"),
    "long": ({"binary_data_size": BINARY_SIZE}, b"\0" * (BINARY_SIZE + 1), "has 3137 bytes"),
    "size disagrees with shape": ({"binary_data_size": 4}, b"\0" * 4, "needs 3136"),
    "negative size": ({"binary_data_size": -4}, b"", "must be a byte count, got -4"),
    "fractional size": ({"binary_data_size": 1.5}, b"", "got 1.5"),
    "boolean size": ({"binary_data_size": True}, b"", "got True"),
    "huge size": ({"binary_data_size": 2 ** 62}, b"", "binary_data_size is 4611686018427387904"),
    "NaN": ({"binary_data_size": BINARY_SIZE}, np.full(784, np.nan, np.float32).tobytes(),
            "NaN and Infinity are not allowed"),
    "infinity": ({"binary_data_size": BINARY_SIZE}, np.full(784, np.inf, np.float32).tobytes(),
                 "found inf"),
    "255": ({"binary_data_size": BINARY_SIZE}, np.full(784, 255, np.float32).tobytes(),
            "found 255 at pixel 0"),
}


@pytest.mark.parametrize(("parameters", "raw", "message"), BAD_BINARY.values(), ids=BAD_BINARY)
def test_bad_binary_data_says_why(parameters: dict[str, Any], raw: bytes, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        decode_request({"inputs": [image_input([1, 784], parameters=parameters)]},
                       memoryview(raw), max_batch=256)
    assert message in str(caught.value)


def test_binary_data_no_input_claims_is_refused() -> None:
    with pytest.raises(RequestError, match="no input claims"):
        decode_request({"inputs": [image_input([1, 784], data=[0] * 784)]},
                       memoryview(b"\0" * 8), max_batch=256)


@pytest.mark.parametrize(("header", "message"), [
    ("abc", "must be a number of bytes"), ("-1", "must be a number of bytes"),
    ("1_0", "must be a number of bytes"), ("1e3", "must be a number of bytes"),
    ("\u0663", "must be a number of bytes"), ("9" * 20, "must be a number of bytes"),
    ("11", "is 11 but the body has 10 bytes"),
])
def test_bad_header_lengths(header: str, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        split_body(b"0123456789", header)


def test_split_body() -> None:
    assert split_body(b"{}", None) == (b"{}", memoryview(b""))
    header, binary = split_body(b'{"a":1}\x00\x01', "7")
    assert header == b'{"a":1}' and bytes(binary) == b"\x00\x01"
    header, binary = split_body(b"{}", "2")
    assert header == b"{}" and len(binary) == 0



def test_encode_json_and_binary_outputs() -> None:
    probabilities = np.array([[0.1, 0.9] + [0.0] * 8, [0.7, 0.3] + [0.0] * 8], np.float32)
    request = InferenceRequest("7", np.zeros((2, 1, 28, 28), np.float32),
                               (RequestedOutput("label", False),
                                RequestedOutput("probabilities", True)))
    body, header_length = encode_response(request, probabilities, model_name="mnist",
                                          model_version="1.0.0")
    assert header_length is not None
    answer = orjson.loads(body[:header_length])
    assert answer == {"model_name": "mnist", "model_version": "1.0.0", "id": "7", "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [2], "data": [1, 0]},
        {"name": "probabilities", "datatype": "FP32", "shape": [2, 10],
         "parameters": {"binary_data_size": 80}}]}
    np.testing.assert_array_equal(np.frombuffer(body[header_length:], "<f4").reshape(2, 10),
                                  probabilities)
    json_only = InferenceRequest(None, request.batch, (RequestedOutput("probabilities", False),))
    body, header_length = encode_response(json_only, probabilities, model_name="mnist",
                                          model_version="1.0.0")
    assert header_length is None
    answer = orjson.loads(body)
    assert "id" not in answer
    assert answer["outputs"][0]["data"] == pytest.approx(probabilities.ravel().tolist())


def test_labels_and_wire_bytes() -> None:
    probabilities = np.eye(10, dtype=np.float32)[[3, 1]]
    labels = tensors.labels(probabilities)
    assert labels.dtype == np.int64 and labels.tolist() == [3, 1]
    assert tensors.to_wire(labels, "INT64") == (3).to_bytes(8, "little") + (1).to_bytes(8, "little")
