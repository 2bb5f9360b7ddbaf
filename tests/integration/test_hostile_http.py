"""Hostile framing and JSON over real HTTP: Gunicorn reads the body lazily, so the app must
turn its parse errors into a JSON 400, and the worker keeps serving."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Server
from tests.integration.test_limits import assert_still_ready
from tests.integration.test_limits import raw_request

pytestmark = pytest.mark.integration

HEAD = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
BROKEN_CHUNKS = {
    "an invalid chunk size": b"zz\r\n{}\r\n0\r\n\r\n",
    "a chunk missing its CRLF": b"2\r\n{}XX0\r\n\r\n",
    "a chunk size with a bare CR": b"2\r{}\r\n0\r\n\r\n",
}


def status_and_body(response: bytes) -> tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


@pytest.mark.parametrize("chunks", BROKEN_CHUNKS.values(), ids=BROKEN_CHUNKS.keys())
@pytest.mark.parametrize("path", [b"/predict", b"/predict/batch"])
def test_broken_chunked_framing_is_json_400(live_server: Server, path: bytes,
                                            chunks: bytes) -> None:
    status, body = status_and_body(raw_request(live_server, HEAD % path + chunks))
    assert status == b"HTTP/1.1 400 BAD REQUEST"
    assert body.startswith(b'{"code":400,') and b"could not be read" in body
    assert_still_ready(live_server)


@pytest.mark.parametrize("document", [b"[" * 5000 + b"]" * 5000,
                                     b'{"data": [1' + b"0" * 5000 + b"]}"])
def test_deep_or_huge_json_is_json_400(live_server: Server, document: bytes) -> None:
    request = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(document)) + document
    status, body = status_and_body(raw_request(live_server, request))
    assert status == b"HTTP/1.1 400 BAD REQUEST"
    assert b"not valid JSON" in body
    assert_still_ready(live_server)
