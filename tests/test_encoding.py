"""Compressed request bodies: gzip and deflate decoded within the limit, anything else refused."""

from __future__ import annotations

import gzip
import zlib

import pytest
from flask.testing import FlaskClient
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import UnsupportedMediaType

from app.web.encoding import decode
from tests.test_predict import FLAT
from tests.test_predict import assert_error


def test_decode() -> None:
    body = b'{"inputs": []}'
    assert decode(body, None, 100) == body
    assert decode(body, "identity", 100) == body
    assert decode(gzip.compress(body), "gzip", 100) == body
    assert decode(gzip.compress(body), " GZIP ", 100) == body
    assert decode(zlib.compress(body), "deflate", 100) == body
    with pytest.raises(RequestEntityTooLarge, match="decodes to over 100 bytes"):
        decode(gzip.compress(b" " * 101), "gzip", 100)
    with pytest.raises(UnsupportedMediaType, match="not supported"):
        decode(body, "br", 100)
    with pytest.raises(BadRequest, match="not valid gzip"):
        decode(body, "gzip", 100)
    with pytest.raises(BadRequest, match="not one complete"):
        decode(gzip.compress(body)[:-4], "gzip", 100)
    with pytest.raises(BadRequest, match="not one complete"):
        decode(zlib.compress(body) + b"junk", "deflate", 100)


def test_a_gzipped_predict_is_answered(client: FlaskClient) -> None:
    body = gzip.compress(b'{"data": [' + b",".join(b"%g" % v for v in FLAT) + b"]}")
    response = client.post("/predict", data=body, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.json
    assert 0 <= response.json["prediction"] <= 9


@pytest.mark.parametrize(("encoding", "status", "words"), [
    ("br", 415, "Content-Encoding 'br' is not supported"),
    ("gzip", 400, "not valid gzip data"),
])
def test_an_encoding_the_service_cannot_undo_is_a_clear_4xx(client: FlaskClient, encoding: str,
                                                             status: int, words: str) -> None:
    response = client.post("/predict", data=b'{"data": [0.5]}', headers={
        "Content-Type": "application/json", "Content-Encoding": encoding})
    body = assert_error(response, status)
    assert words in body["message"]


def test_a_gzip_bomb_is_413(client: FlaskClient) -> None:
    bomb = gzip.compress(b" " * (5 * 1024 * 1024))  # 5 MiB of spaces in about 5 KB
    response = client.post("/predict", data=bomb, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert "decodes to over" in assert_error(response, 413)["message"]
