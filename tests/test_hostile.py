"""Parser-level abuse on every route that reads a JSON body: a clear 4xx, never a 5xx.

The routes come from the OpenAPI document, so a new JSON route is covered without editing this
file. The body is parsed once, by orjson; what it refuses is a 400 that says where. Routes under
/v2 (the Open Inference Protocol) answer in that protocol's shape, `{"error": message}`, and
call every bad request a 400.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from tests.test_properties import RELAXED
from tests.test_properties import assert_answer


def json_body_routes(app: Flask) -> list[str]:
    """Return the paths whose POST takes an application/json body, from the OpenAPI document.

    Path parameters are filled with the first value of their documented enum; a path with a
    parameter that has none is left out.
    """
    spec = app.test_client().get("/openapi.json").get_json()
    found = []
    for path, operations in spec["paths"].items():
        if "application/json" not in (operations.get("post", {}).get("requestBody", {})
                                      .get("content", {})):
            continue
        for parameter in operations.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("enum"):
                path = path.replace(f"{{{parameter['name']}}}", parameter["schema"]["enum"][0])
        if "{" not in path:
            found.append(path)
    return sorted(found)


def is_v2(path: str) -> bool:
    return path.startswith("/v2/")


def error_message(path: str, response: Any) -> str:
    """Return the error's message, checking the body has the shape the route's API uses."""
    body = response.get_json()
    if is_v2(path):
        assert set(body) == {"error"}, body
        return str(body["error"])
    assert body["code"] == response.status_code and body["status"], body
    return str(body["message"])


@pytest.fixture(scope="module")
def routes(app: Flask) -> list[str]:
    found = json_body_routes(app)
    assert {"/predict", "/predict/batch", "/v2/models/digitserve-mnist-cnn/infer"} <= set(found)
    return found


def post(client: FlaskClient, path: str, raw: bytes) -> Any:
    return client.post(path, data=raw, content_type="application/json")


def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + b"0" + closer * depth


NOT_JSON = {
    "arrays nested 1025 deep": deep(1025),
    "arrays nested 100000 deep": deep(100_000),
    "objects nested 2000 deep": deep(2000, b'{"a":', b"}"),
    "data nested 5000 deep": b'{"data": ' + deep(5000) + b"}",
    "an integer of 5000 digits over a double": b'{"data": [1' + b"0" * 5000 + b"]}",
    "1e400": b'{"data": [1e400]}',
    "-1e400": b'{"data": [-1e400]}',
    "NaN": b'{"data": [NaN]}',
    "-Infinity": b'{"data": [-Infinity]}',
    "invalid UTF-8": b'{"data": "\xff\xfe"}',
    "a lone surrogate": b'{"data": "\\ud800"}',
    "trailing garbage": b'{"data": []} x',
    "a NUL byte": b'{"data": [0\x00]}',
    "whitespace only": b"   \n",
    "a UTF-8 byte order mark": b'\xef\xbb\xbf{"data": []}',
}


@pytest.mark.parametrize("raw", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_what_orjson_refuses_is_400(client: FlaskClient, routes: list[str], raw: bytes) -> None:
    for path in routes:
        response = post(client, path, raw)
        assert response.status_code == 400, (path, response.get_data(as_text=True))
        message = error_message(path, response)
        assert message.startswith("The request body is not valid JSON: "), message
        assert "(line " in message


@pytest.mark.parametrize("raw", [deep(1000), b'{"data": ' + deep(1000) + b"}",
                                 b'{"data": [' + b"9" * 300 + b"]}",
                                 b'{"data": [18446744073709551616]}'])
def test_deep_or_huge_but_valid_json_fails_validation(client: FlaskClient, routes: list[str],
                                                      raw: bytes) -> None:
    for path in routes:
        response = post(client, path, raw)
        assert response.status_code == (400 if is_v2(path) else 422), (path, response.data)
        error_message(path, response)


abuse = st.one_of(
    st.builds(deep, st.integers(1, 4000), st.sampled_from([b"[", b'{"a":', b'{"data":']),
              st.just(b"")),
    st.builds(lambda digits, exp: b'{"data": [' + b"7" * digits + exp + b"]}",
              st.integers(1, 20_000), st.sampled_from([b"", b"e308", b"e-400", b".5e99999"])),
    st.builds(lambda cut, junk: b'{"data": [0.5, 0.25]}'[:cut] + junk,
              st.integers(0, 22), st.binary(max_size=16)),
)


@RELAXED
@given(raw=abuse)
def test_parser_abuse_is_answered(client: FlaskClient, routes: list[str], raw: bytes) -> None:
    for path in routes:
        response = post(client, path, raw)
        if is_v2(path):
            assert response.status_code == 200 or 400 <= response.status_code < 500
            assert response.mimetype == "application/json"
            if response.status_code != 200:
                assert error_message(path, response)
        else:
            assert_answer(response)
