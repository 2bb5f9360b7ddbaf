"""Open Inference Protocol (KServe v2) routes: health, metadata and inference of model `mnist`."""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from flask import Request
from flask import Response
from flask import current_app
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import UnsupportedMediaType

from app.inference import v2codec
from app.inference import v2framing
from app.inference.contract import CLASSES
from app.inference.contract import LAYOUTS
from app.inference.model import get_model
from app.inference.tensors import FP32
from app.inference.tensors import INT64
from app.inference.tensors import RequestError
from app.inference.v2codec import InferenceRequest
from app.schemas_v2 import HEALTH_DOC
from app.schemas_v2 import INFER_DOC
from app.schemas_v2 import LIVE_DOC
from app.schemas_v2 import InferenceResponseSchema
from app.schemas_v2 import ModelMetadataSchema
from app.schemas_v2 import ServerMetadataSchema
from app.schemas_v2 import V2ErrorSchema
from app.web import drain
from app.web import memory
from app.web.errors import ErrorBody
from app.web.errors import ModelUnavailableError
from app.web.errors import ServiceError
from app.web.errors import error_headers
from app.web.errors import error_message
from app.web.errors import handle_service_error
from app.web.jsonio import hint
from app.web.jsonio import parse_json
from app.web.jsonio import read_body
from app.web.metrics import InferenceTimer
from app.web.views import Blueprint

blp = Blueprint("v2", __name__, url_prefix="/v2",
                description="Open Inference Protocol (KServe v2 REST), as Triton's clients speak")

EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "onnxruntime_onnx"
# What an inference body may be sent as ("": tritonclient sends no Content-Type).
_BODY_TYPES = frozenset({"application/json", "application/octet-stream", ""})
_ERROR = V2ErrorSchema()
_UNKNOWN_MODEL = {404: (_ERROR, "Unknown model name or version.")}
_INFER_ERRORS = {
    400: (_ERROR, "A bad request: not JSON, broken binary framing, wrong input name, datatype "
                  "or shape, values outside [0, 1], unknown outputs or parameters."),
    **_UNKNOWN_MODEL,
    413: (_ERROR, "The body (decoded) is over MAX_CONTENT_LENGTH."),
    415: (_ERROR, "A Content-Encoding other than gzip, deflate or identity."),
    503: (_ERROR, "The model failed to answer (inference error); the worker keeps serving."),
}
_MODEL = [{"in": "path", "name": "model_name", "schema": {"type": "string"},
           "description": "The served model's name: the model file's metadata `name` (or its "
                          "file name), or DIGITSERVE_MODEL_NAME."}]


class ModelNamePlugin(BasePlugin):
    """apispec plugin: the model_name path parameter names the one model this app serves."""

    def __init__(self, name: str) -> None:
        self.name = name

    def path_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                    parameters: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        """Give each model_name parameter the served name as its only value (a new dict: the
        route's own is shared by every app)."""
        for index, parameter in enumerate(parameters or []):
            if parameter.get("in") == "path" and parameter.get("name") == "model_name":
                parameters[index] = {**parameter,  # type: ignore[index]
                                     "schema": {"type": "string", "enum": [self.name]}}


@blp.url_value_preprocessor
def resolve_model(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Check the model name (and version) in the URL; the views never see them.

    :raises NotFound: for a model or version this server does not serve.
    """
    if not values or "model_name" not in values:
        return
    name, version = values.pop("model_name"), values.pop("model_version", None)
    info = get_model().info
    if name != info.name:
        raise NotFound(f"Unknown model '{name}'; this server serves '{info.name}'.")
    if version is not None and version != info.version:
        raise NotFound(f"Unknown version '{version}' of model '{info.name}'; it is at "
                       f"version '{info.version}'.")


@blp.route("")
@blp.contract(response=ServerMetadataSchema())
def server_metadata() -> dict[str, Any]:
    """Name the server, its version and the protocol extensions it supports."""
    return {"name": "digitserve", "version": current_app.config["API_VERSION"],
            "extensions": EXTENSIONS}


@blp.route("/health/live")
@blp.contract(response=None, doc=LIVE_DOC)
def server_live() -> Response:
    """Answer 200 while the worker serves requests."""
    return _empty(200)


@blp.route("/health/ready")
@blp.contract(response=None, doc=HEALTH_DOC)
def server_ready() -> Response:
    """Answer 200 when the model answers its check inference; 400 if not, or while draining."""
    return _empty(200 if drain.readiness_override() is None and _model_answers() else 400)


@blp.route("/models/<model_name>/ready", parameters=_MODEL)
@blp.route("/models/<model_name>/versions/<model_version>/ready", parameters=_MODEL)
@blp.contract(response=None, alternatives=_UNKNOWN_MODEL, doc=HEALTH_DOC)
def model_ready() -> Response:
    """Answer 200 when the model answers its check inference, else 400."""
    return _empty(200 if _model_answers() else 400)


@blp.route("/models/<model_name>", parameters=_MODEL)
@blp.route("/models/<model_name>/versions/<model_version>", parameters=_MODEL)
@blp.contract(response=ModelMetadataSchema(), alternatives=_UNKNOWN_MODEL)
def model_metadata() -> dict[str, Any]:
    """Describe the model: its versions, platform, input (in its layout) and outputs.

    The input takes 784 values an image in [0, 1] in any of the layouts a model may have; the
    shape given is the model's own. The outputs are the service's: probabilities and labels.
    """
    model = get_model()
    layout = [-1, *LAYOUTS[model.contract.layout]]
    return {"name": model.info.name, "versions": [model.info.version], "platform": PLATFORM,
            "inputs": [{"name": model.contract.input_name, "datatype": FP32, "shape": layout}],
            "outputs": [{"name": v2codec.PROBABILITIES, "datatype": FP32, "shape": [-1, CLASSES]},
                        {"name": v2codec.LABEL, "datatype": INT64, "shape": [-1]}]}


def read_request(req: Request) -> InferenceRequest:
    """Read an inference request: decode the body, split off binary data, parse, check.

    :raises UnsupportedMediaType: (415) for a Content-Type other than JSON or binary data.
        No Content-Type is taken: tritonclient sends none (browsers always do, or say which
        site they come from, see read_body).
    """
    if req.mimetype not in _BODY_TYPES and not req.mimetype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json (or "
                                   f"application/octet-stream with binary data), got "
                                   f"{req.mimetype!r}{hint(req.mimetype)}.")
    body = read_body(req)  # decoded (gzip, deflate) and checked
    header, binary = v2framing.split_body(body, req.headers.get(v2framing.HEADER_LENGTH))
    return v2codec.decode_request(parse_json(header), binary,
                                  max_batch=current_app.config["MAX_BATCH"],
                                  input_name=get_model().contract.input_name)


@blp.route("/models/<model_name>/infer", methods=["POST"], parameters=_MODEL)
@blp.route("/models/<model_name>/versions/<model_version>/infer", methods=["POST"],
           parameters=_MODEL)
@blp.contract(response=InferenceResponseSchema(), loader=read_request,
              alternatives=_INFER_ERRORS, doc=INFER_DOC)
def infer(inference: InferenceRequest) -> Response:
    """Classify 1 to MAX_BATCH images sent as the model's input tensor, in one call.

    Outputs asked for with binary_data (tritonclient's default) come after the JSON answer,
    whose length is in the Inference-Header-Content-Length response header.
    """
    model = get_model()
    with InferenceTimer(len(inference.batch)):
        probabilities = model.probabilities(inference.batch)
    memory.after_batch(len(inference.batch))
    body, header_length = v2codec.encode_response(inference, probabilities,
                                                  model_name=model.info.name,
                                                  model_version=model.info.version)
    if header_length is None:
        return Response(body, 200, content_type="application/json")
    return Response(body, 200, content_type="application/octet-stream",
                    headers={v2framing.HEADER_LENGTH: str(header_length)})


def _model_answers() -> bool:
    """Return whether the model passes its check inference."""
    try:
        get_model().check()
    except ModelUnavailableError:
        return False
    return True


def _empty(status: int) -> Response:
    """Return a health answer: the status says it all, the body is empty."""
    response = Response(b"", status)
    del response.headers["Content-Type"]
    return response


@blp.errorhandler(RequestError)
def bad_request(error: RequestError) -> ErrorBody:
    """Answer a request the protocol or the model cannot take: 400 (413, 415) {"error": ...}."""
    return {"error": str(error)}, error.status, {}


@blp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> ErrorBody:
    """Answer any HTTP error (bad JSON, 404, 405, 413...) in the protocol's shape."""
    return {"error": error_message(error)}, error.code or 500, error_headers(error)


@blp.errorhandler(ServiceError)
def service_error(error: ServiceError) -> ErrorBody:
    """Answer a ServiceError (a failed inference: 503) in the protocol's shape."""
    payload, status, headers = handle_service_error(error)
    return {"error": payload["message"]}, status, headers
