"""What the worker answers itself, in the app's JSON error shape: requests it cannot parse.

Gunicorn answers a request it refuses before the app sees it (a bad request line, too many or
too long headers, broken chunked framing, an unknown transfer coding) in HTML, with no request
id, and no metric counts it. Here the answer is the service's JSON error, with an
X-Request-ID, an access-log line and a count under endpoint "<refused>".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.http.wsgi import Response
from gunicorn.http.wsgi import default_environ
from werkzeug.http import HTTP_STATUS_CODES

from app.web import metrics
from app.web import requestid
from app.web.errors import WorkerTimeoutError

# Gunicorn's parse errors and the status each one gets (the first match wins); any other
# parse error is a 400. An error in a response the app made is the app's: a 500.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (WorkerTimeoutError, 503),
    (http.InvalidResponseHeader, 500), (http.InvalidResponseHeaderName, 500),
    (http.LimitRequestLine, 414), (http.LimitRequestHeaders, 431),
    (http.UnsupportedTransferCoding, 501), (http.ExpectationFailed, 417),
    (http.ForbiddenProxyRequest, 403), (http.ConfigurationProblem, 500),
    (http.ParseException, 400),
)
_REASONS = {414: "URI Too Long"}  # RFC 9110's name, as Gunicorn says it (werkzeug: older)


def status_of(error: BaseException) -> int:
    """Return the status a refused request gets (500: not the client's fault)."""
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 500)


def message_of(error: BaseException, status: int) -> str:
    """Say why, in one line (Gunicorn's own words for a parse error)."""
    if isinstance(error, WorkerTimeoutError):
        return error.message
    if status >= 500:
        return "The server failed to answer this request; its log has the details."
    detail = str(error).strip() or type(error).__name__
    return f"The server refused the request before reading it: {detail}."


def client_id(req: Any) -> str:
    """Return the request's id: the client's X-Request-ID if well formed, else a new one."""
    headers = getattr(req, "headers", None) or []
    given = next((value for name, value in headers if name == "X-REQUEST-ID"), "")
    return requestid.assign(given)


class JsonRefusals:
    """Worker mixin: answer Gunicorn's own refusals as JSON, logged and counted."""

    cfg: Any
    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Answer a request the worker could not hand to the app (Gunicorn's hook).

        Nothing here may raise: an error in this hook ends the worker.
        """
        try:
            self._answer(req, client, addr, exc)
        except Exception:
            self.log.exception("Failed to answer a refused request")

    def _answer(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Log, count and answer a refused request in JSON."""
        started = datetime.now()
        if req is None and isinstance(exc, (http.InvalidHeader, http.InvalidHeaderName)):
            req = getattr(exc, "req", None)  # the request, parsed up to the refused header
        status = status_of(exc)
        failed = status >= 500 and not isinstance(exc, WorkerTimeoutError)  # the app's own
        if failed:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        request_id = client_id(req)
        reason = _REASONS.get(status) or HTTP_STATUS_CODES.get(status, "Error")
        body = orjson.dumps({"code": status, "status": reason,
                             "message": message_of(exc, status)})
        headers = [("Content-Type", "application/json"), (requestid.HEADER, request_id)]
        if req is not None:
            self._log_access(req, client, addr, f"{status} {reason}", headers, len(body),
                             started)
        if not failed:  # an app failure is counted by the app's middleware already
            _count(getattr(req, "method", None) or "", status)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        try:
            util.write_nonblock(client, (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
                                         f"Content-Length: {len(body)}\r\n{head}\r\n").encode(
                "latin-1") + body)
        except Exception:  # the client is gone: nothing more to do
            self.log.debug("Failed to send error message.")

    def _log_access(self, req: Any, client: Any, addr: Any, status: str,
                    headers: list[tuple[str, str]], length: int, started: datetime) -> None:
        """Write the access-log line Gunicorn writes for a refused request, with its id."""
        environ = default_environ(req, client, self.cfg)
        address = addr or ("", -1)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = address[0], str(address[1])
        response = Response(req, client, self.cfg)
        response.status, response.headers = status, headers
        response.response_length = length
        self.log.access(response, req, environ, datetime.now() - started)


def _count(method: str, status: int) -> None:
    """Count a refused request under endpoint "<refused>"."""
    if not metrics.Recording.on:
        return
    try:
        metrics.REQUESTS.labels(metrics.REFUSED, metrics.method_label(method), str(status)).inc()
    except (OSError, ValueError) as error:
        metrics.Recording.stop(error)
