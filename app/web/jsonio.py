"""Fast JSON in and out: orjson behind Flask's JSON provider, and the strict body parser."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Flask
from flask import Request
from flask import Response
from flask.json.provider import JSONProvider
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import UnsupportedMediaType

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class OrjsonProvider(JSONProvider):
    """Flask JSON provider backed by orjson (dataclasses and numpy arrays serialise as-is)."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise obj to a JSON string."""
        return orjson.dumps(obj, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a JSON document."""
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Build a JSON response straight from orjson's bytes."""
        obj = self._prepare_response_obj(args, kwargs)
        return Response(orjson.dumps(obj, option=_OPTIONS), mimetype=self.mimetype)


class StrictJsonParser(FlaskParser):
    """webargs parser for JSON bodies: 415 for other media types, orjson for speed.

    Bodies orjson rejects are parsed again by the standard library, which accepts NaN and
    Infinity: they then reach the schema and fail validation (422) naming the field,
    while text that is not JSON at all gets a 400.
    """

    def _raw_load_json(self, req: Request) -> Any:
        if not core.is_json(req.mimetype):
            raise UnsupportedMediaType(
                f"Content-Type must be application/json, got {req.mimetype or 'none'!r}."
            )
        body = req.get_data(cache=True)
        limit = req.max_content_length
        if req.content_length is None and limit is not None and len(body) >= limit:
            # A chunked body is cut at the limit rather than refused; refuse it here.
            raise RequestEntityTooLarge()
        if not body:
            abort(400, message="The request body is empty; send a JSON object.")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return core.parse_json(body)

    def _handle_invalid_json_error(self, error: Exception, req: Request, *args: Any,
                                   **kwargs: Any) -> Any:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        abort(400, message=f"The request body is not valid JSON: {detail}.")


def init_app(app: Flask) -> None:
    """Make orjson the app's JSON provider."""
    app.json = OrjsonProvider(app)
