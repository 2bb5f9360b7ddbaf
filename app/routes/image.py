"""Picture route: POST /predict/image classifies a digit sent as a PNG, JPEG, WebP, BMP or GIF."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from flask import Request
from flask import current_app
from flask_smorest import abort
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import UnsupportedMediaType

from app.inference.model import Prediction
from app.inference.model import get_model
from app.inference.pictures.decoding import FloatImage
from app.inference.pictures.errors import BlankImageError
from app.inference.pictures.errors import BrokenImageError
from app.inference.pictures.errors import ImageError
from app.inference.pictures.errors import ImageTooComplexError
from app.inference.pictures.errors import ImageTooLargeError
from app.inference.pictures.errors import NotAnImageError
from app.inference.pictures.imaging import to_input
from app.schemas import ImagePredictionSchema
from app.schemas import ImageQuerySchema
from app.web.errors import PictureError
from app.web.jsonio import read_body
from app.web.metrics import InferenceTimer
from app.web.views import Blueprint

blp = Blueprint("image", __name__, description="Digit classification from a picture file")

FIELD = "image"
FORM_PARTS = 16  # multipart parts read at most: the picture, and a few fields a form may add
_QUERY = ImageQuerySchema()
_STATUS: dict[type[ImageError], int] = {NotAnImageError: 415, BrokenImageError: 400,
                                         ImageTooLargeError: 413, ImageTooComplexError: 422,
                                         BlankImageError: 422}
_HOW = ("send multipart/form-data with the file in field `image`, or the file itself as the "
        "body with its image/* Content-Type")
_FILE = {"type": "string", "format": "binary"}
DOC = {
    "parameters": [{"in": "query", "name": "return_input", "required": False,
                    "schema": {"type": "boolean", "default": False},
                    "description": "Add `input`, the 28x28 the model saw."}],
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": [FIELD],
                                           "properties": {FIELD: _FILE}}},
        "image/*": {"schema": _FILE},
    }},
}
ERRORS = {
    400: "The body or the `image` field is empty or missing, the image is truncated or "
         "corrupt, or the body's framing is broken.",
    413: "The body is over MAX_CONTENT_LENGTH, or decoding the image would cost more than "
         "its budget: more pixels than MAX_IMAGE_PIXELS, a progressive or multi-scan JPEG "
         "holding more than 8 x MAX_IMAGE_PIXELS samples, an RLE-compressed BMP over 262,144 "
         "pixels (all refused from the header, before decoding), or over its CPU time (0.5 s "
         "at the default MAX_IMAGE_PIXELS; decoding is stopped).",
    415: "The Content-Type is neither multipart/form-data nor image/*, or the file is not "
         "PNG, JPEG, WebP, BMP or GIF (a lossless or hierarchical JPEG neither).",
    422: "The image has no ink (one colour, or nearly); its structure goes far beyond a "
         "picture's (over 32 JPEG scans; over 4,096 chunks, blocks or segments; over 256 "
         "EXIF entries); or return_input is not a boolean.",
    503: "The model failed to answer (inference error); the worker keeps serving.",
}


@dataclass(frozen=True, slots=True)
class Upload:
    """A picture as sent, and what the client asked for."""

    data: bytes
    return_input: bool


def read_upload(req: Request) -> Upload:
    """Read the picture: the multipart field `image`, or the whole body; and the query.

    :raises HTTPException: 400, 413, 415 or 422, each with a message.
    """
    try:
        query = _QUERY.load(req.args)
    except ValidationError as error:
        messages = {"query": error.normalized_messages()}  # type: ignore[no-untyped-call]
        abort(422, message="The query string failed validation; see errors.", messages=messages)
    mimetype = req.mimetype
    if mimetype == "multipart/form-data":
        if req.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            raise UnsupportedMediaType(f"A multipart body cannot be compressed (Content-"
                                       f"Encoding); send it as it is, or {_HOW}.")
        body = read_body(req)  # framing and size checked first; the form is parsed from memory
        boundary = req.mimetype_params.get("boundary", "").encode("latin-1", "replace")
        if boundary and body.count(b"--" + boundary) > FORM_PARTS + 1:  # counted, not parsed
            raise RequestEntityTooLarge(f"The multipart body has over {FORM_PARTS} parts; send "
                                        f"one file field `{FIELD}` (and few others).")
        req.max_form_parts = FORM_PARTS  # werkzeug's own check, should the count miss one
        upload = req.files.get(FIELD)
        if upload is None:
            raise BadRequest(f"The multipart body has no file field `{FIELD}`; {_HOW}.")
        data = upload.read()
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        data = read_body(req)
    else:
        raise UnsupportedMediaType(f"Content-Type {mimetype or 'none'!r} is not a picture; "
                                   f"{_HOW}.")
    if not data:
        raise BadRequest(f"The image is empty; {_HOW}.")
    return Upload(data, query["return_input"])


def model_input(data: bytes) -> FloatImage:
    """Make the picture into the model's input; an unusable picture is a 4xx with the reason."""
    try:
        return to_input(data, max_pixels=current_app.config["MAX_IMAGE_PIXELS"])
    except ImageError as error:
        raise PictureError(str(error), _STATUS[type(error)]) from None


@blp.route("/predict/image", methods=["POST"])
@blp.contract(loader=read_upload, response=ImagePredictionSchema(), errors=ERRORS, doc=DOC)
def predict_image(upload: Upload) -> Prediction | dict[str, Any]:
    """Classify a picture of one digit, prepared as MNIST's digits were.

    Transparency is flattened onto white, dark ink on light paper is inverted, the digit is
    cropped, scaled to 20 px and centred by its mass in 28x28.
    """
    batch = model_input(upload.data)
    with InferenceTimer(len(batch)):
        answer = get_model().predict(batch)[0]
    if not upload.return_input:
        return answer
    return {**asdict(answer), "input": batch[0, 0].round(4).tolist()}
