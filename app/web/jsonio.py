"""JSON in and out: reading a body, one strict orjson parse, schema loading, JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask
from flask import Request
from flask import Response
from flask.json.provider import JSONProvider
from flask_smorest import abort
from marshmallow import Schema
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import RequestTimeout
from werkzeug.exceptions import UnsupportedMediaType

from app.web import browsers
from app.web import encoding
from app.web import memory
from app.web.errors import WorkerTimeoutError

MIMETYPE = "application/json"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_NOT_JSON_NUMBERS = (b"NaN", b"Infinity")
_UNLIMITED = 1 << 30  # without MAX_CONTENT_LENGTH (the config always sets one)


class OrjsonProvider(JSONProvider):
    """Flask JSON provider backed by orjson (dataclasses and numpy arrays serialise as-is)."""

    mimetype = MIMETYPE

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise obj to a JSON string."""
        return orjson.dumps(obj, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a JSON document."""
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Build a JSON response straight from orjson's bytes."""
        return json_response(self._prepare_response_obj(args, kwargs))


def json_response(obj: Any, status: int = 200) -> Response:
    """Return obj as a JSON response."""
    return Response(orjson.dumps(obj, option=_OPTIONS), status, content_type=MIMETYPE)


def hint(mimetype: str) -> str:
    """Point to what was probably meant: curl -d's form type, or a picture's route."""
    if mimetype == "application/x-www-form-urlencoded":
        return " (curl -d sends that: add -H 'Content-Type: application/json')"
    if mimetype.startswith("image/") or mimetype == "multipart/form-data":
        return " (a picture goes to /predict/image)"
    return ""


def read_body(req: Request) -> bytes:
    """Return the whole request body, decoded, refusing what the service will not take.

    :raises Forbidden: (403) if a browser sent it from another site (app/web/browsers.py).
    :raises RequestEntityTooLarge: over MAX_CONTENT_LENGTH, chunked and compressed bodies too.
    :raises BadRequest: if the body's framing is broken (an invalid chunk size, a short body)
        or its Content-Encoding data is.
    :raises UnsupportedMediaType: for a Content-Encoding other than gzip or deflate.
    """
    browsers.refuse_cross_site(req)
    limit = req.max_content_length or _UNLIMITED
    if req.content_length is None:
        # Werkzeug refuses a chunked body that reaches its limit, not only one that passes it:
        # with one byte more, a body of exactly MAX_CONTENT_LENGTH is taken, as it is with a
        # Content-Length.
        req.max_content_length = limit + 1
    try:
        body = req.get_data(cache=True)
    except HTTPException:
        raise
    except WorkerTimeoutError as error:  # the client did not send the body in time
        raise RequestTimeout(f"The request body did not arrive within the worker timeout: "
                             f"{error.message}") from None
    except Exception as error:  # the WSGI server's own parse errors (Gunicorn's) and OSError
        raise BadRequest(f"The request body could not be read: {type(error).__name__}.") from None
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return encoding.decode(body, req.headers.get("Content-Encoding"), limit)


def parse_json(body: bytes) -> Any:
    """Parse body with orjson, once; anything it refuses is a 400 that says where.

    NaN and Infinity are not JSON (RFC 8259) and are refused here, as are documents nested
    deeper than 1024, numbers too large for a double and invalid UTF-8.
    """
    if not body:
        abort(400, message="The request body is empty; send a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        if body.startswith(_NOT_JSON_NUMBERS, error.pos):
            abort(400, message=f"The request body is not valid JSON: NaN and Infinity are not "
                               f"JSON numbers ({where}); send finite numbers in [0, 1].")
        abort(400, message=f"The request body is not valid JSON: {error.msg} ({where}).")


def load_json(req: Request, schema: Schema) -> Any:
    """Read, parse and validate a JSON body with schema.

    :raises UnsupportedMediaType: unless the Content-Type is application/json or
        application/*+json.
    :raises UnprocessableEntity: (422) with `errors.json` from the schema.
    """
    mimetype = req.mimetype
    if mimetype != MIMETYPE and not (mimetype.startswith("application/")
                                     and mimetype.endswith("+json")):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {mimetype or 'none'!r}{hint(mimetype)}.")
    body = read_body(req)
    memory.after_body(len(body))
    document = parse_json(body)
    try:
        return schema.load(document)
    except ValidationError as error:
        abort(422, messages={"json": error.normalized_messages()})  # type: ignore[no-untyped-call]


def init_app(app: Flask) -> None:
    """Make orjson the app's JSON provider."""
    app.json = OrjsonProvider(app)
