"""The master's model keeper: checked copies for the workers, reloads that keep the last good."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from app.server import forkcheck
from app.server.modelkeeper import RELOADS_ENV
from app.server.modelkeeper import SNAPSHOT_ENV
from app.server.modelkeeper import ModelKeeper
from app.web.errors import ModelLoadError
from tests import models

GOOD_SHA = hashlib.sha256(models.real()).hexdigest()


@pytest.fixture()
def keeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelKeeper:
    """A keeper serving a copy of the real model from tmp_path/model.onnx (env restored after)."""
    # Set, so that monkeypatch puts them back as they were: the keeper publishes to both, and
    # a copy left in DIGITSERVE_MODEL_SNAPSHOT would be what every later create_app loads.
    monkeypatch.setenv(SNAPSHOT_ENV, "")
    monkeypatch.setenv(RELOADS_ENV, "{}")
    (tmp_path / "model.onnx").write_bytes(models.real())
    kept = ModelKeeper(tmp_path / "model.onnx", tmp_path / "copies")
    kept.start()
    return kept


def put(keeper: ModelKeeper, content: bytes | None) -> None:
    """Replace the keeper's model file (None: remove it)."""
    if content is None:
        keeper.path.unlink()
    else:
        keeper.path.write_bytes(content)


def test_start_serves_a_checked_private_copy(keeper: ModelKeeper) -> None:
    served = keeper.served
    assert served.sha256 == GOOD_SHA and served.name == "digitserve-mnist-cnn"
    assert served.snapshot.parent == keeper.directory
    assert served.snapshot.read_bytes() == models.real()
    assert os.environ[SNAPSHOT_ENV] == str(served.snapshot)
    assert json.loads(os.environ[RELOADS_ENV]) == {"accepted": 0, "unchanged": 0, "refused": 0,
                                                   "last_refusal": None}


@pytest.mark.parametrize("kind", sorted(models.REFUSED))
def test_start_refuses_a_bad_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.onnx"
    if (content := models.broken(kind)) is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=re.escape(models.REFUSED[kind])) as refused:
        ModelKeeper(path, tmp_path / "copies").start()
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("kind", sorted(models.REFUSED))
def test_a_bad_file_on_reload_keeps_the_last_good(keeper: ModelKeeper, kind: str) -> None:
    put(keeper, models.broken(kind))
    assert keeper.reload() == "refused"
    assert keeper.served.sha256 == GOOD_SHA
    assert keeper.served.snapshot.read_bytes() == models.real()
    record = json.loads(os.environ[RELOADS_ENV])
    assert record["refused"] == 1
    assert models.REFUSED[kind] in record["last_refusal"]["reason"]
    assert record["last_refusal"]["path"] == str(keeper.path)


def test_a_good_file_on_reload_is_served_and_old_copies_go(keeper: ModelKeeper) -> None:
    first = keeper.served.snapshot
    for n in range(1, 4):
        put(keeper, models.same_network_new_bytes(models.real(), f"version {n}"))
        assert keeper.reload() == "accepted"
        assert os.environ[SNAPSHOT_ENV] == str(keeper.served.snapshot)
        assert keeper.served.snapshot.read_bytes() == keeper.path.read_bytes()
    assert not first.exists()
    assert len(list(keeper.directory.glob("*.onnx"))) == 2  # the served copy, the one before
    assert json.loads(os.environ[RELOADS_ENV])["accepted"] == 3


def test_the_same_bytes_again_are_not_checked_again(keeper: ModelKeeper) -> None:
    keeper.check = lambda content, path: pytest.fail("checked again")
    assert keeper.reload() == "unchanged"


def test_a_copy_that_went_missing_is_written_again(keeper: ModelKeeper) -> None:
    keeper.served.snapshot.unlink()
    keeper.ensure_snapshot()
    assert keeper.served.snapshot.read_bytes() == models.real()


def test_the_check_runs_in_a_child_process(tmp_path: Path) -> None:
    verdict = forkcheck.check_in_child(models.real(), tmp_path / "model.onnx")
    assert verdict.ok and verdict.known == "50 of 50" and verdict.version == "2.0.0"
    refused = forkcheck.check_in_child(models.scrambled(), tmp_path / "model.onnx")
    assert not refused.ok and "known digits right" in refused.reason


@pytest.mark.parametrize("answer", [b'{"ok": true, "na', b'{"ok": true, "colour": 1}', b"[1, 2]"])
def test_a_check_that_answers_garbage_is_a_refusal(
        answer: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child cut off mid-answer (an OOM kill) or answering nonsense: refused, never raised."""
    def child(content: bytes, path: Path, options: object, write_end: int) -> None:
        os.write(write_end, answer)
        os._exit(0)
    monkeypatch.setattr(forkcheck, "_run_child", child)
    verdict = forkcheck.check_in_child(models.real(), tmp_path / "model.onnx")
    assert not verdict.ok and "answered garbage" in verdict.reason


def test_a_check_that_takes_too_long_is_killed(tmp_path: Path) -> None:
    verdict = forkcheck.check_in_child(models.real(), tmp_path / "model.onnx", timeout_s=0.001)
    assert not verdict.ok and "took over" in verdict.reason
