"""deploy/nginx.conf's own answers: one JSON page per status, and limits at or under Gunicorn's."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import ephemeral_port_reserve
import pytest
from werkzeug.http import HTTP_STATUS_CODES

from tests.integration.conftest import Server
from tests.integration.conftest import wait_for_line
from tests.integration.nginx import CONFIG
from tests.integration.nginx import Answer
from tests.integration.nginx import Nginx
from tests.integration.nginx import exchange
from tests.integration.nginx import running_nginx

pytestmark = pytest.mark.integration
CLOSE = b"Connection: close\r\n\r\n"


@pytest.fixture(scope="module")
def front(live_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """Run nginx in front of the session's gunicorn."""
    with running_nginx(tmp_path_factory.mktemp("nginx"), urlsplit(live_server.url).netloc) as nginx:
        yield nginx


def assert_page(answer: Answer, code: int) -> None:
    """Check an answer is nginx's JSON page for code, in the app's error shape."""
    assert answer.status == code, answer
    assert answer.headers["content-type"] == "application/json", answer
    body = json.loads(answer.body)
    assert body["code"] == code and body["status"] == HTTP_STATUS_CODES[code], body
    assert body["message"], body


def request_line(length: int, tag: str) -> bytes:
    """Return a GET whose request line (without CRLF) is length bytes, its path tagged."""
    path = f"/{tag}-".encode()
    path += b"a" * (length - len(b"GET  HTTP/1.1") - len(path))
    line = b"GET " + path + b" HTTP/1.1"
    assert len(line) == length
    return line + b"\r\nHost: localhost\r\n" + CLOSE


def test_one_page_per_status_with_its_own_code() -> None:
    text = CONFIG.read_text()
    redirects = re.findall(r"^\s*error_page ((?:\d{3} )+)(?:=(\d{3}) )?(/__errors/\S+);", text,
                           re.MULTILINE)
    pages = {path: (int(status), json.loads(body)) for path, status, body in re.findall(
        r"location = (/__errors/\S+) \{\s*return (\d{3}) '(.*?)\\n';", text)}
    codes = [int(code) for found, _, _ in redirects for code in found.split()]
    assert len(codes) == len(set(codes)), "a status has two error_page lines"
    used = set()
    for found, answer_as, path in redirects:
        for code in map(int, found.split()):
            expected = int(answer_as or code)  # 494: nginx's header-too-large, answered 431
            assert path == f"/__errors/{expected}.json", (code, path)
            status, body = pages[path]
            assert status == body["code"] == expected, (path, body)
            assert body["status"] == HTTP_STATUS_CODES[expected], body
            assert set(body) == {"code", "status", "message"} and body["message"], body
            used.add(path)
    assert used == set(pages), "a page no error_page line uses"
    assert {400, 413, 414, 429, 494, 502, 504} <= set(codes)
    assert 503 not in codes  # nginx answers none of its own here; the app's passes through


@pytest.mark.parametrize("length", [4095, 5000, 6000])
def test_request_line_over_gunicorns_limit_is_refused_by_nginx(
        front: Nginx, live_server: Server, length: int) -> None:
    tag = f"line-{length}"
    assert_page(exchange(front.url, request_line(length, tag)), 414)
    assert tag not in live_server.log_text()  # Gunicorn never saw it


def test_request_line_at_gunicorns_limit_reaches_the_app(front: Nginx,
                                                         live_server: Server) -> None:
    answer = exchange(front.url, request_line(4094, "line-4094"))
    # The app's own 404 (werkzeug's longer message), which Gunicorn logged.
    assert answer.status == 404 and "check your spelling" in json.loads(answer.body)["message"]
    wait_for_line(live_server, "GET /line-4094-")


@pytest.mark.parametrize("size", [4100, 8190])
def test_long_header_is_refused_by_nginx(front: Nginx, live_server: Server, size: int) -> None:
    tag = f"header-{size}"
    answer = exchange(front.url, f"GET /livez?{tag} HTTP/1.1\r\nHost: localhost\r\n".encode()
                      + b"X-Big: " + b"b" * size + b"\r\n" + CLOSE)
    assert_page(answer, 431)
    assert tag not in live_server.log_text()


def test_header_under_nginx_buffer_passes(front: Nginx) -> None:
    answer = exchange(front.url, b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 4000
                      + b"\r\n" + CLOSE)
    assert answer.status == 200, answer


def test_over_100_header_fields_are_refused_by_gunicorn_in_json(front: Nginx) -> None:
    # nginx cannot count header fields; the worker refuses them, in the service's JSON shape.
    fields = b"".join(b"X-H-%d: 1\r\n" % i for i in range(120))
    answer = exchange(front.url, b"GET /livez HTTP/1.1\r\nHost: localhost\r\n" + fields + CLOSE)
    assert answer.status == 431 and answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["status"] == "Request Header Fields Too Large"


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /livez HTTP/1.1\r\n" + CLOSE,  # no Host
    b"G@T /livez HTTP/1.1\r\nHost: localhost\r\n" + CLOSE,
    b"GET /livez HTTP/1.1\r\nHost: localhost\r\nBad Header: y\r\n" + CLOSE,
    b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
    + CLOSE,
    b"POST /predict HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n" + CLOSE
    + b"zz\r\nab\r\n0\r\n\r\n",
], ids=["garbage", "no-host", "bad-method", "bad-header", "two-lengths", "bad-chunk"])
def test_malformed_request_is_400_json(front: Nginx, request_bytes: bytes) -> None:
    assert_page(exchange(front.url, request_bytes), 400)


@pytest.mark.parametrize(("request_bytes", "code"), [
    (b"TRACE /livez HTTP/1.1\r\nHost: localhost\r\n" + CLOSE, 405),
    (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n" + CLOSE, 501),
    (b"GET /livez HTTP/2.0\r\nHost: localhost\r\n" + CLOSE, 505),
    (b"GET /__errors/413.json HTTP/1.1\r\nHost: localhost\r\n" + CLOSE, 404),  # internal pages
], ids=["trace", "gzip-encoding", "http2", "error-page"])
def test_other_refusals_are_json(front: Nginx, request_bytes: bytes, code: int) -> None:
    answer = exchange(front.url, request_bytes)
    assert_page(answer, code)
    assert "check your spelling" not in json.loads(answer.body)["message"]  # not the app's


def test_big_body_is_413_json(front: Nginx, live_server: Server) -> None:
    # Only the headers: nginx refuses on Content-Length, before any body.
    answer = exchange(front.url, b"POST /predict?big-body HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 5000000\r\n" + CLOSE)
    assert_page(answer, 413)
    assert "big-body" not in live_server.log_text()  # Gunicorn never saw it


@pytest.mark.parametrize(("request_bytes", "code", "message"), [
    (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
     b"Content-Length: 5\r\n" + CLOSE + b"{nope", 400, "not valid JSON"),
    (b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n" + CLOSE, 404, "check your spelling"),
    (b"POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n" + CLOSE, 405,
     "for the requested URL"),
], ids=["400", "404", "405"])
def test_app_errors_pass_untouched(front: Nginx, request_bytes: bytes, code: int,
                                   message: str) -> None:
    answer = exchange(front.url, request_bytes)
    assert answer.status == code
    assert message in json.loads(answer.body)["message"]


def test_service_down_is_502_json(tmp_path: Path) -> None:
    closed = ephemeral_port_reserve.reserve("127.0.0.1")  # nothing listens there
    with running_nginx(tmp_path, f"127.0.0.1:{closed}") as nginx:
        answer = exchange(nginx.url, b"GET /livez HTTP/1.1\r\nHost: localhost\r\n"
                          b"X-Request-ID: down-1\r\n" + CLOSE)
    assert_page(answer, 502)
    assert answer.headers["x-request-id"] == "down-1"


def test_silent_service_is_504_json(tmp_path: Path) -> None:
    # A listening socket that never accepts: the kernel completes the connection, and the
    # request waits for an answer. The copy waits 1 s instead of 35.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        upstream = f"127.0.0.1:{silent.getsockname()[1]}"
        changes = {"proxy_read_timeout 35s;": "proxy_read_timeout 1s;"}
        with running_nginx(tmp_path, upstream, changes) as nginx:
            answer = exchange(nginx.url, b"GET /livez HTTP/1.1\r\nHost: localhost\r\n" + CLOSE)
    assert_page(answer, 504)


def test_an_unknown_host_is_refused_with_421_json(front: Nginx) -> None:
    answer = exchange(front.url, b"GET /livez HTTP/1.1\r\nHost: rebound.example\r\n" + CLOSE)
    assert answer.status == 421 and answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["status"] == "Misdirected Request"
    assert exchange(front.url, b"GET /livez HTTP/1.1\r\nHost: localhost:8080\r\n"
                    + CLOSE).status == 200


@pytest.mark.parametrize("request_bytes", [
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCD /livez HTTP/1.1\r\nHost: localhost\r\n" + CLOSE,
    b"GET /liv\xe9z HTTP/1.1\r\nHost: localhost\r\n" + CLOSE,
], ids=["30-character-method", "8-bit-path"])
def test_what_nginx_passes_and_the_worker_refuses_is_json(front: Nginx,
                                                          request_bytes: bytes) -> None:
    answer = exchange(front.url, request_bytes)
    assert 400 <= answer.status < 500 and answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["code"] == answer.status


def test_a_redirect_through_nginx_names_no_host(front: Nginx) -> None:
    answer = exchange(front.url, b"GET /v2//health/live HTTP/1.1\r\nHost: localhost\r\n" + CLOSE)
    assert answer.status == 308 and answer.headers["location"] == "/v2/health/live"


def test_metrics_and_model_are_for_this_host_only(live_server: Server,
                                                  tmp_path: Path) -> None:
    # This test's client is on 127.0.0.1: here that address is taken out of the list.
    outside = {"        127.0.0.1 1;\n        ::1       1;\n    }": "    }"}
    with running_nginx(tmp_path, urlsplit(live_server.url).netloc, outside) as nginx:
        for path in ("/metrics", "/model"):
            assert_page(exchange(nginx.url, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                                 .encode() + CLOSE), 403)
        assert exchange(nginx.url, b"GET /livez HTTP/1.1\r\nHost: localhost\r\n"
                        + CLOSE).status == 200
    (tmp_path / "inside").mkdir()
    with running_nginx(tmp_path / "inside", urlsplit(live_server.url).netloc) as nginx:
        assert exchange(nginx.url, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
                        + CLOSE).status == 200
