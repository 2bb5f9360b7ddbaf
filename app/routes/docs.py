"""Swagger UI's files for /docs, served from the flask-swagger-ui package: no CDN, works offline."""

from __future__ import annotations

from importlib.util import find_spec

from flask import Blueprint

ASSETS_URL = "/docs/assets"


def _dist_dir() -> str:
    """Return the directory of Swagger UI's dist files inside flask-swagger-ui (not imported)."""
    spec = find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("flask-swagger-ui is not installed; /docs needs its files")
    return f"{spec.submodule_search_locations[0]}/dist"


# Static routes only: flask-smorest's /docs page (its template overridden by
# app/templates/swagger_ui.html) loads swagger-ui-bundle.js and friends from
# OPENAPI_SWAGGER_UI_URL, which config.py points here, and starts them with static/docs/init.js.
blp = Blueprint("docs", __name__, static_folder=_dist_dir(), static_url_path=ASSETS_URL)
init = Blueprint("docs_init", __name__, static_folder="static/docs",
                 static_url_path="/docs/static")
