"""Open Inference Protocol inference: decode a request's JSON and tensors, encode the answer.

Pure: parsed JSON and bytes in, numpy and bytes out; no Flask request in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from marshmallow import ValidationError

from app.inference import tensors
from app.inference.tensors import FP32
from app.inference.tensors import INT64
from app.inference.tensors import RequestError
from app.schemas_v2 import InferenceRequestSchema

INPUT = "image"  # the served model's input name, unless another model says otherwise
PROBABILITIES = "probabilities"
LABEL = "label"
OUTPUTS = {PROBABILITIES: FP32, LABEL: INT64}  # name -> datatype, in the model's order
_SCHEMA = InferenceRequestSchema()
_UNSUPPORTED = {"shared_memory_region": "shared memory", "classification": "classification"}


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output to answer with, as JSON data or as binary data after the JSON."""

    name: str
    binary: bool


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """A decoded inference request: the images and what to answer with."""

    id: str | None
    batch: npt.NDArray[np.float32]  # (N, 1, 28, 28), values in [0, 1]
    outputs: tuple[RequestedOutput, ...]


def decode_request(document: Any, binary: memoryview, *, max_batch: int,
                   input_name: str = INPUT) -> InferenceRequest:
    """Check a parsed JSON header and read its image tensor (from binary when it says so).

    input_name is the model's input, as the model metadata advertises it.

    :raises RequestError: if anything in the request does not fit the protocol or the model.
    """
    try:
        request = _SCHEMA.load(document)
    except ValidationError as error:
        raise RequestError(f"Invalid inference request: {_describe(error.messages)}") from error
    inputs = request["inputs"]
    names = [tensor["name"] for tensor in inputs]
    if names != [input_name]:
        raise RequestError(f"The model takes one input, '{input_name}'; the request has {names}.")
    tensor = inputs[0]
    if tensor["datatype"] != FP32:
        raise RequestError(f"Input '{input_name}' must be {FP32}, got {tensor['datatype']!r}.")
    count = tensors.image_count(input_name, tensor["shape"], max_batch)
    params = tensor.get("parameters", {})
    _refuse_unsupported(params, f"input '{input_name}'")
    size = params.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise RequestError(f"Input '{input_name}' has neither data nor binary_data_size.")
        if len(binary):
            raise RequestError(f"The body has {len(binary)} bytes of binary data that no "
                               f"input claims (binary_data_size).")
        batch = tensors.from_json(input_name, tensor["data"], tensor["shape"], count)
    else:
        if type(size) is not int or size < 0:
            raise RequestError(f"Input '{input_name}' binary_data_size must be a byte count, got "
                               f"{size!r}.")
        if "data" in tensor:
            raise RequestError(f"Input '{input_name}' has both data and binary_data_size.")
        if size != len(binary):
            raise RequestError(f"Input '{input_name}' binary_data_size is {size} but the body has "
                               f"{len(binary)} bytes after the JSON header.")
        batch = tensors.from_binary(input_name, binary, count)
    default = _flag(request.get("parameters", {}), "binary_data_output", False)
    return InferenceRequest(request.get("id"), batch, _outputs(request.get("outputs"), default))


def _outputs(requested: list[dict[str, Any]] | None,
             default: bool) -> tuple[RequestedOutput, ...]:
    """Return the outputs to answer with: those asked for, in order, or all of them."""
    if requested is None:
        return tuple(RequestedOutput(name, default) for name in OUTPUTS)
    found: dict[str, RequestedOutput] = {}
    for output in requested:
        name, params = output["name"], output.get("parameters", {})
        if name not in OUTPUTS:
            raise RequestError(f"Unknown output {name!r}; the model gives {list(OUTPUTS)}.")
        if name in found:
            raise RequestError(f"Output {name!r} is asked for twice.")
        _refuse_unsupported(params, f"output {name!r}")
        found[name] = RequestedOutput(name, _flag(params, "binary_data", default))
    return tuple(found.values())


def encode_response(request: InferenceRequest, probabilities: npt.NDArray[np.float32], *,
                    model_name: str, model_version: str) -> tuple[bytes, int | None]:
    """Return the answer's body and, when some output is binary, the JSON header's length."""
    values: dict[str, npt.NDArray[Any]] = {PROBABILITIES: probabilities,
                                           LABEL: tensors.labels(probabilities)}
    outputs, chunks = [], []
    for output in request.outputs:
        array, datatype = values[output.name], OUTPUTS[output.name]
        entry: dict[str, Any] = {"name": output.name, "datatype": datatype,
                                 "shape": list(array.shape)}
        if output.binary:
            chunks.append(tensors.to_wire(array, datatype))
            entry["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            entry["data"] = array.ravel()
        outputs.append(entry)
    answer: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = outputs
    header = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join((header, *chunks)), len(header)


def _flag(params: dict[str, Any], key: str, default: bool) -> bool:
    """Return a boolean parameter, or default when absent."""
    value = params.get(key, default)
    if type(value) is not bool:
        raise RequestError(f"Parameter {key} must be true or false, got {value!r}.")
    return value


def _refuse_unsupported(params: dict[str, Any], where: str) -> None:
    """Refuse the protocol extensions this server does not implement."""
    for key, extension in _UNSUPPORTED.items():
        if key in params:
            raise RequestError(f"The {extension} extension is not supported ({where}).")


def _describe(messages: Any, where: str = "") -> str:
    """Flatten marshmallow's nested messages into `inputs[0].shape: ...; ...`."""
    if isinstance(messages, dict):
        return "; ".join(_describe(inner, _path(where, key)) for key, inner in messages.items())
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{where}: {' '.join(messages)}" if where else " ".join(messages)
    return f"{where}: {messages}"


def _path(where: str, key: Any) -> str:
    """Extend a field path: `inputs`, `inputs[0]`, `inputs[0].shape`; `_schema` is the body."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    if key == "_schema":
        return where
    return f"{where}.{key}" if where else str(key)
