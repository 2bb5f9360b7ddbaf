"""One version everywhere: pyproject.toml's is the API's, /v2's, the image's and the CLI's."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from flask.testing import FlaskClient

from tests.support import REPO_ROOT

VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_api_and_v2_say_it(client: FlaskClient) -> None:
    assert client.get("/openapi.json").json["info"]["version"] == VERSION
    assert client.get("/v2").json["version"] == VERSION


def test_the_image_label_and_tag_say_it() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    label = re.search(r"org\.opencontainers\.image\.version=\"([^\"]+)\"", dockerfile)
    assert label is not None and label[1] == VERSION
    kustomization = yaml.safe_load((REPO_ROOT / "deploy/kubernetes/kustomization.yaml")
                                   .read_text())
    assert [image["newTag"] for image in kustomization["images"]] == [VERSION]
    for doc in ("README.md", "deploy/README.md"):
        assert set(re.findall(r"digitserve:(\d+\.\d+\.\d+)", (REPO_ROOT / doc).read_text())) <= {
            VERSION}, doc


def test_the_cli_says_it() -> None:
    command = Path(sys.executable).with_name("digitserve")
    done = subprocess.run([str(command), "--version"], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout.strip() == f"digitserve {VERSION}"
