"""A user's own export under a real Gunicorn: what torch.onnx.export gives by default, served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests

from tests.exports import export
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.support import load_heldout

pytestmark = pytest.mark.integration


def test_a_torch_default_export_is_served_through_every_route(gunicorn: StartServer,
                                                              tmp_path: Path) -> None:
    # Input "input.1" fixed at a batch of 1, logits out, a label beside them.
    path = tmp_path / "mine.onnx"
    path.write_bytes(export(batch=1, input_name="input.1", output="logits", label=True))
    server = gunicorn(DIGITSERVE_MODEL_PATH=str(path))
    wait_ready(server)
    images, labels = load_heldout()
    batch = requests.post(f"{server.url}/predict/batch", timeout=10,
                          json={"instances": images[:16].tolist()}).json()
    assert [a["prediction"] for a in batch["predictions"]] == labels[:16].tolist()
    one = requests.post(f"{server.url}/predict", json={"data": images[0].tolist()},
                        timeout=10).json()
    assert one["prediction"] == labels[0] and abs(sum(one["probabilities"]) - 1) < 1e-4
    metadata = requests.get(f"{server.url}/v2/models/users-mnist", timeout=10).json()
    assert metadata["inputs"][0]["name"] == "input.1"
    answer = requests.post(f"{server.url}/v2/models/users-mnist/infer", timeout=10, json={
        "inputs": [{"name": "input.1", "datatype": "FP32", "shape": [4, 1, 28, 28],
                    "data": np.ravel(images[:4]).tolist()}]}).json()
    outputs = {output["name"]: output["data"] for output in answer["outputs"]}
    assert outputs["label"] == labels[:4].tolist()
    model = requests.get(f"{server.url}/model", timeout=10).json()
    assert model["contract"]["batch"] == 1 and model["contract"]["output_kind"] == "logits"
    assert "checked in" in server.log_text()
