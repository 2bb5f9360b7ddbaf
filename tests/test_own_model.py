"""Users' own exports served as they are: every layout, logits or log-probabilities, fixed batches.

Each model file is the served network exported another way (tests/exports.py), so its answers
must equal the served model's, through every route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.inference.check import check_model
from app.inference.contract import Options
from app.web.errors import ModelLoadError
from tests import models
from tests.exports import SHAPES
from tests.exports import export
from tests.pictures import encode
from tests.pictures import heldout_uint8
from tests.support import load_heldout

DIGITS = 12  # held-out digits sent through each route
EXPORTS: dict[str, dict[str, Any]] = {
    "nhw": {"layout": "nhw"}, "flat": {"layout": "flat"}, "nhwc": {"layout": "nhwc"},
    "logits": {"output": "logits"}, "log-softmax": {"output": "log_probabilities"},
    "with a label output": {"label": True},
    # What torch.onnx.export gives by default: input "input.1", a batch of 1, logits.
    "torch default": {"batch": 1, "input_name": "input.1", "output": "logits"},
    "fixed batch 8": {"batch": 8, "layout": "flat"},
    "0-255 (metadata)": {"input_range": "0-255",
                         "metadata": {"digitserve.input_range": "0-255"}},
    "mnist (metadata), logits": {"input_range": "mnist", "output": "logits",
                                 "metadata": {"digitserve.input_range": "mnist"}},
}


def app_for(tmp_path: Path, content: bytes, **config: Any) -> Flask:
    """An app serving content as its model file."""
    path = tmp_path / "own.onnx"
    path.write_bytes(content)
    return create_app({"TESTING": True, "MODEL_PATH": str(path), **config})


@pytest.fixture(scope="module")
def served() -> FlaskClient:
    """The served model, to compare answers with."""
    return create_app({"TESTING": True}).test_client()


@pytest.fixture(scope="module")
def digits() -> list[list[float]]:
    """Held-out digits as 784 values in [0, 1]."""
    return [row.tolist() for row in load_heldout()[0][:DIGITS]]


def answers(client: FlaskClient, digits: list[list[float]], model: str) -> dict[str, Any]:
    """Ask every route about the digits; return what each one answered."""
    single = [client.post("/predict", json={"data": pixels}).json for pixels in digits[:3]]
    batch = client.post("/predict/batch", json={"instances": digits}).json
    picture = client.post("/predict/image", data=encode_digit(), content_type="image/png").json
    v2 = client.post(f"/v2/models/{model}/infer", json={"inputs": [{
        "name": client.get(f"/v2/models/{model}").json["inputs"][0]["name"],
        "datatype": "FP32", "shape": [len(digits), 784],
        "data": np.ravel(digits).tolist()}]}).json
    return {"single": single, "batch": batch, "picture": picture, "v2": v2}


def encode_digit() -> bytes:
    """The first held-out digit as a PNG, dark on white."""
    from PIL import Image

    return encode(Image.fromarray(255 - heldout_uint8()[0][0].reshape(28, 28)), "PNG")


def assert_same(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Check two sets of answers agree: labels exactly, probabilities to 1e-5."""
    def probabilities(found: dict[str, Any]) -> np.ndarray:
        rows = [answer["probabilities"] for answer in found["single"]]
        rows += [answer["probabilities"] for answer in found["batch"]["predictions"]]
        rows.append(found["picture"]["probabilities"])
        return np.array(rows)

    np.testing.assert_allclose(probabilities(mine), probabilities(theirs), atol=1e-5)
    assert [a["prediction"] for a in mine["batch"]["predictions"]] == [
        a["prediction"] for a in theirs["batch"]["predictions"]]
    labels = {output["name"]: output["data"] for output in mine["v2"]["outputs"]}
    assert labels["label"] == [a["prediction"] for a in theirs["batch"]["predictions"]]
    np.testing.assert_allclose(np.reshape(labels["probabilities"], (-1, 10)),
                               [a["probabilities"] for a in theirs["batch"]["predictions"]],
                               atol=1e-5)


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_an_export_answers_as_the_served_model_does(kind: str, tmp_path: Path,
                                                    served: FlaskClient,
                                                    digits: list[list[float]]) -> None:
    app = app_for(tmp_path, export(**EXPORTS[kind]))
    client = app.test_client()
    assert_same(answers(client, digits, "users-mnist"),
                answers(served, digits, "digitserve-mnist-cnn"))
    for answer in client.post("/predict/batch", json={"instances": digits}).json["predictions"]:
        assert abs(sum(answer["probabilities"]) - 1) < 1e-4 and 0 <= answer["confidence"] <= 1


def test_everything_that_describes_the_model_comes_from_its_file(tmp_path: Path) -> None:
    client = app_for(tmp_path, export(**EXPORTS["torch default"])).test_client()
    model = client.get("/model").json
    assert (model["name"], model["version"]) == ("users-mnist", "7")
    assert model["contract"] == {"input": "input.1", "layout": "nchw", "batch": 1,
                                 "output": "logits", "output_kind": "logits",
                                 "input_range": "0-1"}
    assert client.get("/health").json["model"]["name"] == "users-mnist"
    assert "serving users-mnist 7" in client.get("/").json["message"]
    spec = client.get("/openapi.json").json
    assert "serving users-mnist 7" in spec["info"]["description"]
    parameter = spec["paths"]["/v2/models/{model_name}"]["parameters"][0]
    assert parameter["schema"]["enum"] == ["users-mnist"]
    metadata = client.get("/v2/models/users-mnist").json
    assert metadata["name"] == "users-mnist" and metadata["versions"] == ["7"]
    assert metadata["inputs"] == [{"name": "input.1", "datatype": "FP32",
                                   "shape": [-1, 1, 28, 28]}]
    assert client.get("/v2/models/digitserve-mnist-cnn").status_code == 404


@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_v2_takes_the_shape_it_advertises(tmp_path: Path, layout: str,
                                          digits: list[list[float]]) -> None:
    client = app_for(tmp_path, export(layout=layout)).test_client()
    advertised = client.get("/v2/models/users-mnist").json["inputs"][0]
    shape = [3, *advertised["shape"][1:]]
    assert advertised["shape"] == [-1, *SHAPES[layout]]
    answer = client.post("/v2/models/users-mnist/infer", json={"inputs": [{
        "name": advertised["name"], "datatype": "FP32", "shape": shape,
        "data": np.reshape(digits[:3], shape).tolist()}]})
    assert answer.status_code == 200, answer.json


def test_a_setting_names_the_output_and_the_model(tmp_path: Path,
                                                  digits: list[list[float]]) -> None:
    app = app_for(tmp_path, export(both_scores=True), OUTPUT_NAME="logits", MODEL_NAME="mine")
    model = app.test_client().get("/model").json
    assert model["contract"]["output"] == "logits" and model["name"] == "mine"
    assert app.test_client().get("/v2/models/mine").status_code == 200


def test_a_setting_overrides_what_the_scores_look_like(tmp_path: Path) -> None:
    # Told they are logits, probabilities are put through a softmax again: flatter answers.
    app = app_for(tmp_path, export(), OUTPUT_KIND="logits")
    assert app.test_client().get("/model").json["contract"]["output_kind"] == "logits"


@pytest.mark.parametrize(("content", "config", "words"), [
    (models.five_classes(), {}, "output must be (N, 10)"),
    (export(both_scores=True), {}, "2 float outputs of 10 scores (probabilities, logits): "
                                   "name the one to serve with DIGITSERVE_OUTPUT_NAME"),
    (export(int_input=True), {}, "input 'image' is tensor(int64); the contract: one float "
                                 "input of 784 values an image"),
    (export(both_scores=True), {"OUTPUT_NAME": "nope"}, "has no output 'nope'"),
    (export(), {"INPUT_LAYOUT": "nhwc"}, "has shape ['batch', 1, 28, 28]"),
    (export(metadata={"digitserve.output_kind": "scores"}), {},
     "metadata digitserve.output_kind is 'scores'"),
])
def test_a_model_outside_the_contract_is_refused_in_one_line(
        tmp_path: Path, content: bytes, config: dict[str, str], words: str) -> None:
    with pytest.raises(ModelLoadError) as refused:
        app_for(tmp_path, content, **config)
    message = str(refused.value)
    assert words in message and "\n" not in message, message


def test_the_check_says_when_a_model_wants_other_pixel_values(tmp_path: Path) -> None:
    # Loading works (create_app), but the master's check reads the known digits: refused.
    content = export(input_range="0-255")
    with pytest.raises(ModelLoadError, match="reads 8 of 50 known digits right.*set "
                                             "DIGITSERVE_INPUT_RANGE to 0-1, 0-255 or mnist"):
        check_model(content, tmp_path / "own.onnx")
    assert check_model(content, tmp_path / "own.onnx",
                       options=Options(input_range="0-255")).known_right == 50
