"""Draining: /readyz answers 503 while the drain file exists; everything else keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.config import ConfigError
from app.web.drain import DRAINING
from app.web.drain import is_draining


@pytest.fixture(scope="module")
def drain_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a drain file path that does not exist yet."""
    return tmp_path_factory.mktemp("drain") / "drain"


@pytest.fixture(scope="module")
def draining_app(drain_file: Path) -> Flask:
    """Build an app whose drain file is drain_file."""
    return create_app({"TESTING": True, "DRAIN_FILE": str(drain_file)})


def test_is_draining(tmp_path: Path) -> None:
    assert not is_draining("")
    assert not is_draining(str(tmp_path / "absent"))
    (tmp_path / "present").touch()
    assert is_draining(str(tmp_path / "present"))


def test_readyz_says_draining_while_predict_serves(draining_app: Flask, drain_file: Path,
                                                   digit: tuple[list[float], int]) -> None:
    client = draining_app.test_client()
    assert client.get("/readyz").get_json()["status"] == "ready"
    drain_file.touch()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["status"] == DRAINING
        assert str(drain_file) in ready.get_json()["message"]
        # Nothing else changes: the server serves until it is told to stop.
        assert client.get("/livez").status_code == 200
        assert client.get("/health").status_code == 200
        data, label = digit
        predicted = client.post("/predict", json={"data": data})
        assert predicted.status_code == 200
        assert predicted.get_json()["prediction"] == label
    finally:
        drain_file.unlink()
    assert client.get("/readyz").status_code == 200


def test_no_drain_file_by_default(app: Flask) -> None:
    assert app.config["DRAIN_FILE"] == ""


@pytest.mark.parametrize("value", [3, "/no/such/dir/drain"])
def test_bad_drain_file_fails_start(value: object) -> None:
    with pytest.raises(ConfigError, match="DRAIN_FILE"):
        create_app({"TESTING": True, "DRAIN_FILE": value})


def test_drain_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIGITSERVE_DRAIN_FILE", str(tmp_path / "drain"))
    assert create_app({"TESTING": True}).config["DRAIN_FILE"] == str(tmp_path / "drain")
