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
from werkzeug.exceptions import UnsupportedMediaType

from app.web import memory

MIMETYPE = "application/json"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_NOT_JSON_NUMBERS = (b"NaN", b"Infinity")


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


def read_body(req: Request) -> bytes:
    """Return the whole request body, refusing what the server could not frame.

    :raises RequestEntityTooLarge: over MAX_CONTENT_LENGTH, chunked bodies included.
    :raises BadRequest: if the body's framing is broken (an invalid chunk size, a short body).
    """
    try:
        body = req.get_data(cache=True)
    except HTTPException:
        raise
    except Exception as error:  # the WSGI server's own parse errors (Gunicorn's) and OSError
        raise BadRequest(f"The request body could not be read: {type(error).__name__}.") from None
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(body) >= limit:
        # A chunked body is cut at the limit rather than refused; refuse it here.
        raise RequestEntityTooLarge()
    return body


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
            f"Content-Type must be application/json, got {mimetype or 'none'!r}.")
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
