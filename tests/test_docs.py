"""/docs: Swagger UI served by the app from the flask-swagger-ui package, nothing from a CDN."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient


def test_docs_loads_only_files_the_app_serves(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', html))
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', html)
    assert {asset.rsplit("/", 1)[1] for asset in assets} == {
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200, asset
            assert response.mimetype in {"text/css", "text/javascript"}
            assert len(response.data) > 10_000


def test_the_assets_are_the_pinned_packages(app: Flask) -> None:
    from importlib.metadata import version

    with app.test_client().get("/docs/assets/VERSION") as response:
        # flask-swagger-ui ships the Swagger UI release of its own version number.
        shipped = response.get_data(as_text=True).strip()
    assert shipped == "v" + version("flask-swagger-ui")


def test_no_validator_badge_calls_out(client: FlaskClient) -> None:
    page = html.unescape(client.get("/docs").get_data(as_text=True))
    assert 'data-config="{"validatorUrl":null}"' in page


def test_the_page_has_no_inline_script_and_a_policy_that_forbids_one(
        client: FlaskClient) -> None:
    response = client.get("/docs")
    page = response.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/docs/assets/swagger-ui-standalone-preset.js">',
        '<script src="/docs/assets/swagger-ui-bundle.js">',
        '<script src="/docs/static/init.js">']
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    with client.get("/docs/static/init.js") as script:
        assert script.status_code == 200


def test_the_docs_files_are_not_api_operations(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/demo"))]
