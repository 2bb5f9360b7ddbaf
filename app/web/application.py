"""The Flask class digitserve runs: OPTIONS answered in JSON, redirects that name no host."""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlsplit

from flask import Flask
from flask import Request
from flask import Response
from werkzeug.routing import RequestRedirect

from app.web.errors import RelativeRedirect
from app.web.jsonio import json_response


class App(Flask):
    """Flask, with JSON OPTIONS answers and host-free redirects."""

    def make_default_options_response(self) -> Response:
        """Answer OPTIONS with the allowed methods, in the Allow header and as JSON."""
        response = super().make_default_options_response()
        answer = json_response({"allow": sorted(response.allow)})
        answer.allow.update(response.allow)
        return answer

    def raise_routing_exception(self, request: Request) -> NoReturn:
        """Raise the routing error, a redirect made relative (answered by the JSON handler)."""
        error = request.routing_exception
        if isinstance(error, RequestRedirect):
            target = urlsplit(error.new_url)
            path = "/" + target.path.lstrip("/")  # never "//host/...": that names a host too
            raise RelativeRedirect(path + (f"?{target.query}" if target.query else ""))
        super().raise_routing_exception(request)
