"""The worker's decision to close at once: only when the body was read to its end and nothing
else waits in the socket; otherwise Gunicorn's lingering close runs as before."""

from __future__ import annotations

import io
import socket
from types import SimpleNamespace

import pytest
from gunicorn.http.body import Body
from gunicorn.http.body import ChunkedReader
from gunicorn.http.body import LengthReader
from gunicorn.http.unreader import IterUnreader

from app.web.worker import heartbeat_every
from app.web.worker import pending
from app.web.worker import read_to_end


def request_with(reader: object) -> SimpleNamespace:
    return SimpleNamespace(body=Body(reader))


def test_a_body_read_to_its_end_needs_no_linger() -> None:
    req = request_with(LengthReader(IterUnreader([b"abcd"]), 4))
    assert not read_to_end(req)
    assert req.body.read() == b"abcd"
    assert read_to_end(req)


def test_no_body_needs_no_linger() -> None:
    assert read_to_end(request_with(LengthReader(IterUnreader([]), 0)))


def test_a_body_left_unread_or_chunked_lingers() -> None:
    half = request_with(LengthReader(IterUnreader([b"abcd"]), 4))
    half.body.read(2)
    assert not read_to_end(half)
    chunked = SimpleNamespace(body=Body(ChunkedReader(SimpleNamespace(), IterUnreader([]))))
    assert not read_to_end(chunked)
    buffered = request_with(LengthReader(IterUnreader([b"ab"]), 0))
    buffered.body.buf = io.BytesIO(b"left over")
    buffered.body.buf.seek(0, io.SEEK_END)
    assert not read_to_end(buffered)


def test_pending_sees_unread_bytes_without_taking_them() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not pending(ours)
        theirs.sendall(b"GET / HTTP/1.1\r\n")
        assert pending(ours) and pending(ours)  # peeked, not consumed
        assert ours.recv(100) == b"GET / HTTP/1.1\r\n"
        theirs.close()
        assert not pending(ours)  # the peer closed: nothing to protect


def test_the_heartbeat_leaves_a_request_at_least_nine_tenths_of_the_timeout() -> None:
    assert heartbeat_every(30) == 1.0
    assert heartbeat_every(2) == pytest.approx(0.2)
    assert heartbeat_every(1) == pytest.approx(0.1)
    assert heartbeat_every(0) == 1.0  # no timeout: nobody reads the heartbeat
