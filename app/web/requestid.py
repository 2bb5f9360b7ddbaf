"""Request ids: take a well-formed X-Request-ID from the client or make one; echo it always."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import has_request_context
from flask import request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

HEADER = "X-Request-ID"
ENVIRON_KEY = "digitserve.request_id"
# Ids from proxies and tracers (UUIDs, hex trace ids, ULIDs) fit; anything else is replaced
# rather than refused, so a bad header never costs the client its answer. A new id is 128 bits
# from Python's generator, which reseeds in every forked worker: unique, not secret, and with
# no system call (secrets.token_hex asks the kernel each time).
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")


class RequestIdMiddleware:
    """WSGI middleware: put the request id in the environ and on every response.

    WSGI rather than Flask hooks: it is cheaper, and it also covers responses that
    Flask's own error handling makes.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        """Assign the id, then add it to the response headers."""
        request_id = environ[ENVIRON_KEY] = assign(environ.get("HTTP_X_REQUEST_ID", ""))

        def add_header(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, add_header)


def assign(given: str) -> str:
    """Return the client's id if it is well formed, else a new random one."""
    return given if _VALID.fullmatch(given) else f"{random.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    """Give every log record a request_id attribute ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the attribute; never drop the record."""
        record.request_id = (request.environ.get(ENVIRON_KEY, "-") if has_request_context()
                             else "-")
        return True


def init_app(app: Flask) -> None:
    """Wrap the app in the middleware and tag the app's log records with the id."""
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.logger.addFilter(RequestIdFilter())
