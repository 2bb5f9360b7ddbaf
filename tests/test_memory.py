"""Giving a large batch's memory back: when it is due, and what a release does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app.inference.model import KEY
from app.web import memory


@pytest.fixture()
def calls(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record arena releases of the real model while still running them."""
    seen: list[str] = []
    model = app.extensions[KEY]

    def release_arena() -> None:
        seen.append("arena")
        model.release_arena()  # the real onnxruntime call: it must not fail

    monkeypatch.setattr(memory, "_state", {"pending": False, "arena": release_arena})
    yield seen


def test_only_a_batch_over_the_threshold_leaves_a_release_due(calls: list[str]) -> None:
    memory.after_batch(1)
    memory.after_batch(memory.LARGE_BATCH)
    assert not memory.pending()
    memory.after_batch(memory.LARGE_BATCH + 1)
    assert memory.pending()


def test_only_a_json_body_over_1_mib_leaves_a_release_due(calls: list[str]) -> None:
    memory.after_body(memory.LARGE_BODY)
    assert not memory.pending()
    memory.after_body(memory.LARGE_BODY + 1)
    assert memory.pending()


def test_release_hands_the_arena_back_and_clears_the_due_flag(calls: list[str]) -> None:
    memory.after_batch(256)
    memory.release()
    assert calls == ["arena"]
    assert not memory.pending()


def test_the_app_registers_its_models_arena() -> None:
    from app import create_app

    fresh = create_app()
    assert memory._state["arena"] == fresh.extensions[KEY].release_arena


def test_a_batch_route_leaves_a_release_due(app: Flask, calls: list[str]) -> None:
    client = app.test_client()
    reply = client.post("/predict/batch", json={"instances": [[0.0] * 784] * 65})
    assert reply.status_code == 200
    assert memory.pending()
    single = client.post("/predict/batch", json={"instances": [[0.0] * 784] * 2})
    assert single.status_code == 200


def test_a_failing_arena_release_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("session gone")

    monkeypatch.setattr(memory, "_state", {"pending": True, "arena": broken})
    with caplog.at_level("ERROR", logger="gunicorn.error"):
        memory.release()
    assert not memory.pending()
    assert "giving the arena back failed" in caplog.text and "session gone" in caplog.text
