"""app/server's small parts alone: the JSON log format, the metrics directory, the halt policy."""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import tempfile
from pathlib import Path

import pytest
from gunicorn.errors import HaltServer

from app.server import halting
from app.server import logformat
from app.server import metricsdir
from app.server.serverlog import LossyHandler


def record(name: str, message: str, args: object = None) -> logging.LogRecord:
    """Make a log record as Gunicorn's loggers do."""
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)  # type: ignore[arg-type]


def test_json_access_lines_carry_their_fields_as_keys() -> None:
    atoms = {"h": "127.0.0.1", "m": "POST", "U": "/predict", "q": "", "s": "200", "B": "106",
             "M": "3", "{x-request-id}o": "abc-1", "a": "curl/8"}
    line = json.loads(logformat.json_formatter().format(
        record("gunicorn.access", '"POST /predict" 200', atoms)))
    assert line["logger"] == "gunicorn.access" and line["level"] == "INFO"
    assert line["pid"] == os.getpid() and "time" in line
    assert {key: line[key] for key in logformat.ACCESS_FIELDS} == {
        "remote_addr": "127.0.0.1", "method": "POST", "path": "/predict", "query": "",
        "status": "200", "bytes": "106", "duration_ms": "3", "request_id": "abc-1",
        "user_agent": "curl/8"}


def test_json_error_lines_are_plain() -> None:
    line = json.loads(logformat.json_formatter().format(record("gunicorn.error", "Booting")))
    assert line["message"] == "Booting" and "method" not in line


def test_json_logconfig_sends_access_lines_to_stdout_only_when_on() -> None:
    on, off = logformat.json_logconfig("debug", True), logformat.json_logconfig("info", False)
    assert on["loggers"]["gunicorn.access"]["handlers"] == ["stdout"]
    assert off["loggers"]["gunicorn.access"]["handlers"] == ["null"]
    assert on["loggers"]["gunicorn.error"]["level"] == "DEBUG"
    assert on["formatters"]["json"]["()"] is logformat.json_formatter


def test_emptying_removes_only_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "metrics"
    monkeypatch.setenv(metricsdir.ENV, str(directory))
    metricsdir.empty()  # made when missing
    (directory / "counter_1.db").write_bytes(b"x")
    (directory / "notes.txt").write_text("kept")
    metricsdir.empty()
    assert [path.name for path in directory.iterdir()] == ["notes.txt"]


def test_only_a_temporary_directory_is_removed_and_only_by_its_master(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made = Path(tempfile.mkdtemp(prefix=metricsdir.PREFIX))
    monkeypatch.setenv(metricsdir.ENV, str(made))
    metricsdir.remove_if_temporary(os.getpid() + 1)  # a worker (another pid) leaves it
    assert made.is_dir()
    metricsdir.remove_if_temporary(os.getpid())
    assert not made.exists()
    given = tmp_path / "metrics"
    given.mkdir()
    monkeypatch.setenv(metricsdir.ENV, str(given))
    metricsdir.remove_if_temporary(os.getpid())  # the operator's directory stays
    assert given.is_dir()


class Arbiter:
    """Just the two methods halt_once wraps: every reap finds a worker that failed to boot."""

    def __init__(self) -> None:
        self.reaps = 0

    def stop(self, graceful: bool = True) -> None:
        self.reap_workers()

    def reap_workers(self) -> None:
        self.reaps += 1
        if self.reaps <= 3:
            raise HaltServer("Worker failed to boot.", 3)


def test_a_failed_boot_halts_once_however_many_workers_fail() -> None:
    arbiter = Arbiter()
    halting.halt_once(arbiter)
    with pytest.raises(HaltServer):  # the first failed boot halts the server...
        arbiter.reap_workers()
    arbiter.stop()  # ...and halting reaps the others without raising again
    assert arbiter.reaps == 4


def test_a_handler_on_a_socket_closes_its_descriptor_once() -> None:
    """Gunicorn sets its handlers up again on every HUP: the old handler, once collected, must
    not close the descriptor number the new one was given (the journald case)."""
    ours, journal = socket.socketpair()
    journal.settimeout(5)
    with ours, journal, os.fdopen(os.dup(ours.fileno()), "w") as stream:
        old = LossyHandler("-", stream)
        old.close()
        new = LossyHandler("-", stream)
        del old
        gc.collect()
        new.emit(record("gunicorn.error", "after the reload"))
        new.close()
        assert journal.recv(4096) == b"after the reload\n"


def test_a_handler_on_a_plain_file_writes_where_the_process_writes(tmp_path: Path) -> None:
    """`2>file` (no O_APPEND): lines the handler writes and lines written straight to the
    descriptor (a traceback, onnxruntime's log) follow each other instead of overwriting."""
    with open(tmp_path / "log", "w") as stream:
        handler = LossyHandler("-", stream)
        os.write(stream.fileno(), b"direct 1\n")
        handler.emit(record("gunicorn.error", "handler"))
        os.write(stream.fileno(), b"direct 2\n")
        handler.close()
    assert (tmp_path / "log").read_text() == "direct 1\nhandler\ndirect 2\n"
