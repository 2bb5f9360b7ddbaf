"""Open Inference Protocol (KServe v2) JSON shapes: the inference request, the answers, errors."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from app.inference.tensors import SHAPES_TEXT
from app.inference.v2framing import HEADER_LENGTH
from app.schemas import InputSchema

_PARAMETER_TYPES = frozenset({str, int, float, bool})
_DATA_DOC = {"type": "array", "items": {},
             "description": "The tensor's values in row-major order, flat or nested as its "
                            "shape; absent when sent as binary data (parameters."
                            "binary_data_size)."}


class ParameterValue(fields.Raw):
    """One parameter's value: a string, a number or a boolean, as the protocol says."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"anyOf": [{"type": "string"}, {"type": "number"},
                                             {"type": "boolean"}]}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if type(value) not in _PARAMETER_TYPES:
            raise ValidationError("A parameter's value must be a string, a number or a boolean.")
        return value


def parameters() -> fields.Dict:
    """Return a field for a $parameters object: names to strings, numbers or booleans."""
    return fields.Dict(keys=fields.String(), values=ParameterValue(),
                       metadata={"description": "Name/value pairs (protocol extensions)."})


class _Lenient(InputSchema):
    """Fields the protocol does not define are ignored (e.g. a `model_name` in the body)."""

    class Meta:
        unknown = EXCLUDE


class RequestInputSchema(_Lenient):
    """One input tensor of an inference request."""

    name = fields.String(required=True, metadata={
        "description": "The model's input name, as GET /v2/models/{model_name} gives it."})
    shape = fields.List(fields.Integer(strict=True), required=True,
                        validate=validate.Length(min=2, max=4),
                        metadata={"description": f"{SHAPES_TEXT}, whatever the model's own."})
    datatype = fields.String(required=True, metadata={"enum": ["FP32"]})
    parameters = parameters()
    data = fields.Raw(metadata=_DATA_DOC)


class RequestOutputSchema(_Lenient):
    """One output the client asks for, and how (parameters.binary_data)."""

    name = fields.String(required=True, metadata={"enum": ["probabilities", "label"]})
    parameters = parameters()


class InferenceRequestSchema(_Lenient):
    """The JSON of POST /v2/models/{name}/infer (the header, with binary tensor data)."""

    id = fields.String(metadata={"description": "Echoed in the answer."})
    parameters = parameters()
    inputs = fields.List(fields.Nested(RequestInputSchema), required=True,
                         validate=validate.Length(min=1))
    outputs = fields.List(fields.Nested(RequestOutputSchema),
                          metadata={"description": "Absent: every output."})


class ResponseOutputSchema(Schema):
    """One output tensor of an inference answer."""

    name = fields.String(required=True)
    shape = fields.List(fields.Integer(), required=True)
    datatype = fields.String(required=True)
    parameters = parameters()
    data = fields.Raw(metadata=_DATA_DOC)


class InferenceResponseSchema(Schema):
    """The answer of an inference request (JSON, or the header before binary data)."""

    model_name = fields.String(required=True)
    model_version = fields.String()
    id = fields.String()
    parameters = parameters()
    outputs = fields.List(fields.Nested(ResponseOutputSchema), required=True)


class TensorMetadataSchema(Schema):
    """A tensor a model takes or gives; -1 is a dimension of any size."""

    name = fields.String(required=True)
    datatype = fields.String(required=True)
    shape = fields.List(fields.Integer(), required=True)


class ModelMetadataSchema(Schema):
    """Answer of GET /v2/models/{name}."""

    name = fields.String(required=True)
    versions = fields.List(fields.String())
    platform = fields.String(required=True)
    inputs = fields.List(fields.Nested(TensorMetadataSchema), required=True)
    outputs = fields.List(fields.Nested(TensorMetadataSchema), required=True)


class ServerMetadataSchema(Schema):
    """Answer of GET /v2."""

    name = fields.String(required=True)
    version = fields.String(required=True)
    extensions = fields.List(fields.String(), required=True)


class V2ErrorSchema(Schema):
    """The protocol's error body."""

    error = fields.String(required=True)


# OpenAPI fields the schemas cannot say: bodiless health answers, the infer route's two bodies.
LIVE_DOC = {"responses": {"200": {"description": "True: an empty body."}}}
HEALTH_DOC = {"responses": {**LIVE_DOC["responses"],
                            "400": {"description": "False: an empty body."}}}
INFER_DOC = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": InferenceRequestSchema},
        "application/octet-stream": {"schema": {
            "type": "string", "format": "binary",
            "description": f"The JSON request ({HEADER_LENGTH} bytes), then each binary input's "
                           f"bytes (little-endian) in order."}}}},
    "parameters": [{"in": "header", "name": HEADER_LENGTH, "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "The JSON header's length when binary tensor data follows."}],
}
