"""digitserve-check-model: the pipeline's check of a model file, the same one the server runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.server.checkmodel import main
from tests import models
from tests.support import MODEL_PATH
from tests.support import REPO_ROOT


def test_a_good_model_is_described(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(MODEL_PATH)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok: {MODEL_PATH}"
    assert f"  sha256: {hashlib.sha256(models.real()).hexdigest()}" in out
    assert "  name: digitserve-mnist-cnn" in out and "  version: 2.0.0" in out
    assert "  known_digits: 50 of 50 right" in out
    assert out[-1].startswith("  card: heldout_accuracy 0.9930, ")


@pytest.mark.parametrize("kind", sorted(models.REFUSED))
def test_a_bad_model_is_refused_in_one_line(tmp_path: Path, kind: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{kind}.onnx"
    if (content := models.broken(kind)) is not None:
        path.write_bytes(content)
    assert main([str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: ") and str(path) in lines[0], lines
    assert models.REFUSED[kind] in lines[0]


def test_json_says_which_files_passed(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(models.broken("truncated") or b"")
    assert main(["--json", str(MODEL_PATH), str(bad)]) == 1
    good, refused = map(json.loads, capsys.readouterr().out.splitlines())
    assert good["ok"] and good["version"] == "2.0.0" and good["card"]["ece"] == "0.0032"
    assert not refused["ok"] and "protobuf parsing failed" in refused["error"]


def test_the_installed_command_runs() -> None:
    command = Path(sys.executable).with_name("digitserve-check-model")
    done = subprocess.run([str(command), "model.onnx"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: model.onnx\n")
