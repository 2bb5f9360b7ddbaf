"""Service errors and the JSON error handlers: every error body has one shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import cast

from flask import Flask
from flask import current_app
from flask import request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES

ErrorBody = tuple[dict[str, Any], int, dict[str, str]]
HttpErrorHandler = Callable[[HTTPException], ErrorBody]


class ServiceError(Exception):
    """An error the service answers with its own status code and message."""

    status_code = 500
    status = "Internal Server Error"

    def __init__(self, message: str, errors: dict[str, Any] | None = None,
                 detail: str | None = None) -> None:
        """Keep the client's message and field errors; `detail` goes to the server log only."""
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.detail = detail


class ModelUnavailableError(ServiceError):
    """The model cannot answer right now (a failed inference or warm-up)."""

    status_code = 503
    status = "Service Unavailable"


class WorkerTimeoutError(ServiceError):
    """The request ran past Gunicorn's worker timeout; the worker answers, then is replaced."""

    status_code = 503
    status = "Service Unavailable"


class PictureError(ServiceError):
    """A picture the service cannot classify: not an image, broken, too large or blank (4xx)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.status = HTTP_STATUS_CODES[status_code]


class ModelLoadError(Exception):
    """The model file is missing, unreadable or not the digit model; start-up must stop."""


class RelativeRedirect(HTTPException):
    """A routing redirect (a path with doubled slashes) whose Location is only a path.

    Werkzeug's own writes an absolute URL from the request's Host header, which the client
    chooses: a redirect must never send a client to a host it named.
    """

    code = 308

    def __init__(self, location: str) -> None:
        super().__init__(f"This resource is at {location}.")
        self.location = location


class ServiceApi(Api):  # type: ignore[misc]
    """flask-smorest's Api whose HTTP error bodies always carry a message."""

    def handle_http_exception(self, error: HTTPException) -> ErrorBody:
        """Answer any HTTPException (400, 404, 405, 413, 415, 422, 500...) as JSON.

        A path that matched no route (404, 405) under a blueprint's url_prefix is answered
        by that blueprint's own HTTPException handler, if it has one, as if it had matched:
        Flask gives routing errors to the app's handlers only.
        """
        handler = _prefix_handler(error)
        if handler is not None:
            return handler(error)
        payload, status, _ = super().handle_http_exception(error)  # its headers: the abort's
        payload.setdefault("message", _message_for(error))
        return payload, status, error_headers(error)


def _prefix_handler(error: HTTPException) -> HttpErrorHandler | None:
    """Return the HTTPException handler of the blueprint whose url_prefix holds an unrouted path."""
    if request.url_rule is not None:  # routed: a blueprint handler would have had it first
        return None
    path = request.path
    for name, blueprint in current_app.blueprints.items():
        prefix = (blueprint.url_prefix or "").rstrip("/")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            handlers = current_app.error_handler_spec[name][None]
            for cls in type(error).__mro__:
                if cls in handlers:  # registered by the blueprint with this signature
                    return cast(HttpErrorHandler, handlers[cls])
    return None


def error_headers(error: HTTPException) -> dict[str, str]:
    """Return the headers an error answer must carry: a 405's Allow, an abort's own headers."""
    headers = dict((getattr(error, "data", None) or {}).get("headers", {}))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers.setdefault("Allow", ", ".join(sorted(error.valid_methods)))
    if isinstance(error, RelativeRedirect):
        headers["Location"] = error.location
    return headers


def error_message(error: HTTPException) -> str:
    """Return the one-line message the error's body carries (an abort's, or werkzeug's)."""
    data = getattr(error, "data", None) or {}
    message = data.get("message")
    return message if isinstance(message, str) else _message_for(error)


def _message_for(error: HTTPException) -> str:
    """Pick a one-line message: a validation summary, or werkzeug's own description."""
    if error.code == 422:
        return "The request body failed validation; see errors."
    return error.description or error.name


def handle_service_error(error: ServiceError) -> ErrorBody:
    """Answer a ServiceError with the common error shape."""
    payload: dict[str, Any] = {
        "code": error.status_code,
        "status": error.status,
        "message": error.message,
    }
    if error.errors:
        payload["errors"] = error.errors
    if error.status_code >= 500:
        current_app.logger.error("%s: %s%s", type(error).__name__, error.message,
                                 f" ({error.detail})" if error.detail else "")
    return payload, error.status_code, {}


def init_app(app: Flask) -> None:
    """Register the ServiceError handler (the Api registers the HTTPException one)."""
    app.register_error_handler(ServiceError, handle_service_error)
