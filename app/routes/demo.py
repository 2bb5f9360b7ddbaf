"""The browser demo: GET /demo, a page to draw or drop a digit on, and its static files."""

from __future__ import annotations

from flask import Blueprint
from flask import Response

# Plain HTML, CSS and JavaScript in static/demo/: no build step, nothing from a CDN.
blp = Blueprint("demo", __name__, static_folder="static/demo", static_url_path="/demo/static")


@blp.get("/demo")
def demo() -> Response:
    """Serve the page; it calls POST /predict/image as any client would."""
    return blp.send_static_file("demo.html")
