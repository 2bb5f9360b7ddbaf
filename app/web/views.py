"""Lean views: flask-smorest documents each route once, at start-up; a request runs only its work.

flask-smorest's `arguments`, `response` and `alt_response` decorators each wrap the view, so
every request would pass through their layers (webargs parsing, coroutine checks, response
wrapping) as well. `Blueprint.contract` applies them to the view once, keeps only the
documentation they collect (`_apidoc`, which flask-smorest reads when the route is
registered), and registers a plain function that does load -> view -> dump.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import flask_smorest
from flask import Request
from flask import Response
from flask import request
from flask_smorest.error_handler import ErrorSchema
from marshmallow import Schema

from app.web.jsonio import json_response
from app.web.jsonio import load_json

View = Callable[..., Any]
BodyLoader = Callable[[Request], Any]
NO_ERRORS: Mapping[int, str] = MappingProxyType({})
NO_ALTERNATIVES: Mapping[int, tuple[Schema, str]] = MappingProxyType({})

# What every route that reads a JSON body can answer, for the OpenAPI document.
JSON_BODY_ERRORS: Mapping[int, str] = MappingProxyType({
    400: "The body is empty, not JSON, or its framing is broken.",
    413: "The body is over MAX_CONTENT_LENGTH.",
    415: "The Content-Type is not application/json.",
    422: "Validation failed; `errors.json` names the field.",
})


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest Blueprint whose views are documented by it but not wrapped by it."""

    def contract(self, *, response: Schema | None, body: Schema | None = None, status: int = 200,
                 loader: BodyLoader | None = None, errors: Mapping[int, str] = NO_ERRORS,
                 alternatives: Mapping[int, tuple[Schema, str]] = NO_ALTERNATIVES,
                 doc: Mapping[str, Any] | None = None) -> Callable[[View], View]:
        """Document a view's request and answers; run it as load -> view -> dump.

        :param response: dumps what the view returns (a value, or a (value, status) pair).
            A view may also return a ready Response, which is passed on as it is; with
            response=None (an answer without a body) it must.
        :param body: the JSON body's schema; the view gets the loaded body as its first
            argument. Bad bodies answer 400/413/415/422 before the view runs.
        :param loader: reads a non-JSON body instead (given the request); documented by doc.
        :param errors: other error statuses the view raises, with their descriptions.
        :param alternatives: non-error answers with their own schema, e.g. a 503 health body.
        :param doc: extra OpenAPI operation fields (e.g. a requestBody for a loader).
        """

        def decorator(func: View) -> View:
            documented = func
            for code, text in errors.items():
                documented = self.alt_response(code, schema=ErrorSchema, description=text)(
                    documented)
            for code, (schema, text) in alternatives.items():
                documented = self.alt_response(code, schema=schema, description=text)(
                    documented)
            documented = self.response(status, response)(documented)
            if body is not None:
                documented = self.arguments(body)(documented)
            if doc:
                documented = self.doc(**doc)(documented)
            load = functools.partial(load_json, schema=body) if body is not None else loader
            view = _lean_view(func, load, response, status)
            view._apidoc = documented._apidoc  # type: ignore[attr-defined]
            return view

        return decorator


def _lean_view(func: View, load: BodyLoader | None, response: Schema | None,
               status: int) -> View:
    """Return the function Flask calls per request: load the body, call func, dump its answer."""
    dump = response.dump if response is not None else _no_schema

    @functools.wraps(func)
    def view(**kwargs: Any) -> Response:
        if load is None:
            result = func(**kwargs)
        else:
            result = func(load(request._get_current_object()), **kwargs)  # type: ignore[attr-defined]
        if isinstance(result, Response):
            return result
        if type(result) is tuple:
            return json_response(dump(result[0]), result[1])
        return json_response(dump(result), status)

    return view


def _no_schema(result: Any) -> Any:
    """Refuse to dump: a view declared with response=None must return a Response."""
    raise TypeError(f"a view without a response schema returned {type(result).__name__}")
