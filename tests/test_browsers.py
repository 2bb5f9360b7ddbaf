"""What browsers may do: pages locked down, no work from other sites, no host in a redirect."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.web.browsers import PAGE_HEADERS
from tests.pictures import encode
from tests.pictures import heldout_uint8
from tests.test_predict import FLAT
from tests.test_predict import assert_error

V2_INFER = "/v2/models/digitserve-mnist-cnn/infer"
V2_BODY = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 28, 28],
                       "data": FLAT}]}


def picture() -> bytes:
    """A held-out digit as a PNG."""
    from PIL import Image

    return encode(Image.fromarray(255 - heldout_uint8()[0][0].reshape(28, 28)), "PNG")


def send(client: FlaskClient, route: str, headers: dict[str, str]) -> Any:
    """POST a good body for route with extra headers."""
    if route == "/predict/image":
        return client.post(route, data=picture(), headers={"Content-Type": "image/png",
                                                           **headers})
    body = {"/predict": {"data": FLAT}, "/predict/batch": {"instances": [FLAT]},
            V2_INFER: V2_BODY}[route]
    return client.post(route, json=body, headers=headers)


ROUTES = ["/predict", "/predict/batch", "/predict/image", V2_INFER]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://other.localhost"},
    {"Origin": "https://elsewhere.example"},  # a browser without Sec-Fetch-*
    {"Origin": "null"},  # a sandboxed page
])
def test_work_sent_from_another_site_is_refused(client: FlaskClient, route: str,
                                                headers: dict[str, str]) -> None:
    response = send(client, route, headers)
    assert response.status_code == 403
    message = (response.json.get("message") or response.json.get("error"))
    assert "from another site" in message


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    {"Sec-Fetch-Site": "none"}, {"Origin": "http://localhost"},
])
def test_work_from_the_pages_and_from_programs_is_taken(client: FlaskClient, route: str,
                                                        headers: dict[str, str]) -> None:
    assert send(client, route, headers).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_v2_refuses_a_body_a_form_could_send(client: FlaskClient, content_type: str) -> None:
    import json

    response = client.post(V2_INFER, data=json.dumps(V2_BODY), content_type=content_type)
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.json["error"]


def test_v2_takes_a_body_without_a_content_type_as_tritonclient_sends(
        client: FlaskClient) -> None:
    import json

    response = client.post(V2_INFER, data=json.dumps(V2_BODY), content_type="")
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("path", ["/demo", "/docs", "/demo/static/demo.js",
                                  "/docs/assets/swagger-ui.css", "/docs/static/init.js"])
def test_pages_and_their_files_are_locked_down(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        assert response.status_code == 200
        assert {key: response.headers.get(key) for key in PAGE_HEADERS} == PAGE_HEADERS
    assert "frame-ancestors 'none'" in PAGE_HEADERS["Content-Security-Policy"]


def test_the_api_answers_carry_no_page_headers(client: FlaskClient) -> None:
    response = client.post("/predict", json={"data": FLAT})
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.parametrize(("method", "path", "location"), [
    ("get", "/v2//models/digitserve-mnist-cnn", "/v2/models/digitserve-mnist-cnn"),
    ("post", "/predict//batch?x=1", "/predict/batch?x=1"),
    ("get", "/demo/static//demo.js", "/demo/static/demo.js"),
])
def test_a_redirect_names_no_host(client: FlaskClient, method: str, path: str,
                                  location: str) -> None:
    response = getattr(client, method)(path, headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == location
    assert response.is_json


@pytest.mark.parametrize(("path", "allowed"), [
    ("/predict", ["OPTIONS", "POST"]), ("/health", ["GET", "HEAD", "OPTIONS"]),
    (V2_INFER, ["OPTIONS", "POST"]),
])
def test_options_is_answered_in_json(client: FlaskClient, path: str,
                                     allowed: list[str]) -> None:
    response = client.options(path)
    assert response.status_code == 200 and response.is_json
    assert response.json == {"allow": allowed}
    assert sorted(response.headers["Allow"].split(", ")) == allowed


def test_a_chunked_body_of_exactly_the_limit_is_taken() -> None:
    body = b'{"data": [' + b",".join([b"0.5"] * 784) + b"]}"
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    for size, status in ((len(body), 200), (len(body) - 1, 413)):
        app = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": size})
        response = app.test_client().post("/predict", input_stream=io.BytesIO(body),
                                          environ_overrides={"wsgi.input_terminated": True},
                                          headers=headers)
        if status == 413:
            assert_error(response, 413)
        else:
            assert response.status_code == 200, response.json
