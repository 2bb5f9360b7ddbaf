"""The limits, set on purpose and tested over HTTP: body size, batch size, request line, headers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture()
def small(gunicorn: StartServer) -> Iterator[Server]:
    """A server with small limits: 20 kB bodies, batches of 4, short lines and few headers."""
    server = gunicorn(DIGITSERVE_MAX_CONTENT_LENGTH="20000", DIGITSERVE_MAX_BATCH="4",
                      GUNICORN_LIMIT_REQUEST_LINE="200", GUNICORN_LIMIT_REQUEST_FIELDS="20",
                      GUNICORN_LIMIT_REQUEST_FIELD_SIZE="300")
    wait_ready(server)
    yield server


def raw_request(server: Server, request: bytes) -> bytes:
    """Send raw bytes and return the whole response (the server closes the connection)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(request)
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    print(f"\n{request[:60]!r}... -> {response!r}")
    return response


def assert_still_ready(server: Server) -> None:
    """Check the server still answers, and nothing in its log says a worker died."""
    assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
    log = server.log_text()
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log


def test_body_over_limit_is_413_json(small: Server) -> None:
    response = requests.post(f"{small.url}/predict", data=b"[" + b"0.5," * 10_000 + b"0.5]",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert_still_ready(small)


def test_chunked_body_over_limit_is_413_json(small: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data": ['
        for _ in range(100):
            yield b"0.5," * 100
        yield b"0.5]}"

    # A generator body goes out chunked, with no Content-Length to refuse it by.
    response = requests.post(f"{small.url}/predict", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert_still_ready(small)


def test_batch_over_limit_is_422(small: Server) -> None:
    # Integer pixels: 5 images in about 12 kB, under the 20 kB body limit.
    response = requests.post(f"{small.url}/predict/batch", timeout=10,
                             json={"instances": [[0] * 784] * 5})
    assert response.status_code == 422
    assert "1 to 4" in response.json()["errors"]["json"]["instances"][0]
    assert requests.post(f"{small.url}/predict/batch", timeout=10,
                         json={"instances": [[0] * 784] * 4}).status_code == 200
    assert_still_ready(small)


def test_long_request_line_is_refused(small: Server) -> None:
    response = raw_request(small, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 414"), response[:200]
    assert b"Request Line is too large" in response
    assert_still_ready(small)


def test_too_many_headers_are_refused(small: Server) -> None:
    headers = b"".join(b"X-Header-%d: 1\r\n" % i for i in range(30))
    response = raw_request(small, b"GET /livez HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert response.startswith(b"HTTP/1.1 431"), response[:200]
    assert b"limit request headers fields" in response
    assert_still_ready(small)


def test_long_header_is_refused(small: Server) -> None:
    response = raw_request(small, b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: "
                           + b"b" * 1000 + b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 431"), response[:200]
    assert b"limit request headers fields size" in response
    assert_still_ready(small)


def test_shipped_limits_are_those_documented(live_server: Server) -> None:
    # gunicorn.conf.py's defaults: a 4094-byte request line, 100 headers of 8190 bytes.
    def status(request: bytes) -> bytes:
        return raw_request(live_server, request).split(b"\r\n", 1)[0]

    def line(path_length: int) -> bytes:
        return b"GET /" + b"a" * path_length + b" HTTP/1.1\r\nHost: x\r\n\r\n"

    def headers(count: int, size: int = 1) -> bytes:
        fields = b"".join(b"X-H-%d: %s\r\n" % (i, b"v" * size) for i in range(count))
        return b"GET /livez HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"

    assert status(line(4000)) == b"HTTP/1.1 404 NOT FOUND"  # reaches the app
    assert status(line(4100)) == b"HTTP/1.1 414 URI Too Long"
    assert status(headers(99)) == b"HTTP/1.1 200 OK"  # 100 with Host
    assert status(headers(101)) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert status(headers(1, 8000)) == b"HTTP/1.1 200 OK"
    assert status(headers(1, 8200)) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert requests.get(f"{live_server.url}/readyz", timeout=5).status_code == 200
