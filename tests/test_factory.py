"""The factory: configuration precedence and checks, and model files that must stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError
from app.inference.model import KEY
from app.web.errors import ModelLoadError
from tests import models
from tests.support import MODEL_PATH


def test_defaults() -> None:
    app = create_app()
    assert app.config["ORT_THREADS"] == 1
    assert app.config["MAX_BATCH"] == 256
    assert Path(app.config["MODEL_PATH"]) == MODEL_PATH
    assert not app.testing


def test_env_overrides_defaults_and_test_config_overrides_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITSERVE_MAX_BATCH", "32")
    monkeypatch.setenv("DIGITSERVE_ORT_THREADS", "2")
    app = create_app({"ORT_THREADS": 1})
    assert app.config["MAX_BATCH"] == 32
    assert app.config["ORT_THREADS"] == 1


def test_env_model_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(MODEL_PATH.read_bytes())
    monkeypatch.setenv("DIGITSERVE_MODEL_PATH", str(copy))
    app = create_app()
    assert app.extensions[KEY].info.path == str(copy)


@pytest.mark.parametrize(("key", "value"), [
    ("ORT_THREADS", 0), ("ORT_THREADS", "2"), ("MAX_BATCH", -1), ("MAX_BATCH", True),
    ("MAX_CONTENT_LENGTH", 0), ("MODEL_PATH", ""), ("LOG_LEVEL", "LOUD"),
    ("MAX_IMAGE_PIXELS", 0), ("MAX_IMAGE_PIXELS", 89_478_486), ("MAX_IMAGE_PIXELS", 1.5),
])
def test_bad_config_fails_start(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        create_app({key: value})


def test_bad_env_value_fails_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITSERVE_MAX_BATCH", "lots")
    with pytest.raises(ConfigError, match="MAX_BATCH"):
        create_app()


def _model_variants(tmp_path: Path) -> dict[str, Path]:
    """Write broken model files made from real bytes; return them by kind."""
    real = MODEL_PATH.read_bytes()
    flipped = bytearray(real)
    for i in range(16, len(flipped), 97):
        flipped[i] ^= 0xFF
    variants = {
        "missing": tmp_path / "absent.onnx",
        "empty": b"",
        "truncated": real[: len(real) // 2],
        "corrupt": bytes(flipped),
        "text": b"this is not an onnx model\n",
        "five_classes": models.five_classes(),
    }
    paths = {}
    for kind, content in variants.items():
        if isinstance(content, Path):
            paths[kind] = content
        else:
            paths[kind] = tmp_path / f"{kind}.onnx"
            paths[kind].write_bytes(content)
    return paths


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "corrupt", "text",
                                  "five_classes"])
def test_broken_model_fails_start(kind: str, tmp_path: Path) -> None:
    path = _model_variants(tmp_path)[kind]
    with pytest.raises(ModelLoadError, match=str(path)):
        create_app({"MODEL_PATH": str(path)})


def test_a_worker_loads_the_masters_checked_copy(tmp_path: Path) -> None:
    # Under Gunicorn MODEL_PATH may hold anything by the time a worker boots: the worker reads
    # the copy the master checked.
    copy = tmp_path / "checked.onnx"
    copy.write_bytes(MODEL_PATH.read_bytes())
    gone = tmp_path / "replaced-by-a-bad-file.onnx"
    gone.write_bytes(b"half a model")
    app = create_app({"MODEL_PATH": str(gone), "MODEL_SNAPSHOT": str(copy)})
    info = app.extensions[KEY].info
    assert (info.path, info.loaded_from) == (str(gone), str(copy))
