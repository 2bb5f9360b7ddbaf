"""What browsers may do with the service: pages locked down, no work sent from other sites.

The pages (/demo, /docs and their files) get a Content-Security-Policy allowing only this
origin's scripts, no framing, no sniffing and no referrer. A request that carries a body is
refused (403) when a browser says it comes from another site: any web page could otherwise
make its visitors' browsers send inference work here (a form or a no-cors fetch needs no
permission). Clients that are not browsers send neither header and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask import Request
from flask import Response
from werkzeug.exceptions import Forbidden

# Swagger UI sets style attributes and draws its icons from data: URIs; nothing else is needed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' "
                           "'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# The demo, Swagger UI's files, its start-up script, its page.
PAGE_BLUEPRINTS = ("demo", "docs", "docs_init", "api-docs")
_OTHER_SITES = frozenset({"cross-site", "same-site"})


def refuse_cross_site(req: Request) -> None:
    """Refuse a body sent by a browser on behalf of another site.

    :raises Forbidden: (403) if Sec-Fetch-Site says so, or Origin names another host.
    """
    site = req.headers.get("Sec-Fetch-Site")
    origin = req.headers.get("Origin")
    # Browsers without Sec-Fetch-Site still send Origin (or "null" from a sandboxed page).
    if site in _OTHER_SITES or (site is None and origin is not None
                                and urlsplit(origin).netloc.lower() != req.host.lower()):
        raise Forbidden(f"A browser sent this request from another site "
                        f"({origin or site}); this service takes work only from its own pages "
                        f"and from clients that are not browsers.")


def add_page_headers(response: Response) -> Response:
    """Lock a page (or its file) down: this origin's scripts only, no framing, no sniffing."""
    response.headers.update(PAGE_HEADERS)
    return response


def init_app(app: Flask) -> None:
    """Give the pages' blueprints their headers (the API's routes pay nothing)."""
    for name in PAGE_BLUEPRINTS:  # what Blueprint.after_request registers, for this app only
        app.after_request_funcs.setdefault(name, []).append(add_page_headers)
