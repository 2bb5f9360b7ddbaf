"""POST /predict/image through the test client: answers, return_input, the accuracy floors."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.web import browsers
from tests.pictures import CONTENT_TYPES
from tests.pictures import STYLES
from tests.pictures import encode
from tests.pictures import heldout_uint8
from tests.pictures import render
from tests.support import sample_value

FLOOR_EACH = 0.93  # every style
FLOOR_ALL = 0.97  # all styles together
# Digits of each class per style: 500 in all, a few seconds. `python -m tests.pictures` runs
# all 1,000 held-out digits.
PER_CLASS = 50


@pytest.fixture(scope="module")
def nine_png() -> bytes:
    digits, labels = heldout_uint8()
    assert labels[0] == 9
    return encode(Image.fromarray(255 - digits[0].reshape(28, 28)), "PNG")


def post_raw(client: FlaskClient, data: bytes, content_type: str = "image/png",
             query: str = "") -> Any:
    return client.post(f"/predict/image{query}", data=data, content_type=content_type)


def post_form(client: FlaskClient, data: bytes, query: str = "") -> Any:
    return client.post(f"/predict/image{query}", content_type="multipart/form-data",
                       data={"image": (io.BytesIO(data), "digit.png")})


def test_a_raw_body_and_a_form_get_the_same_answer(client: FlaskClient, nine_png: bytes) -> None:
    raw, form = post_raw(client, nine_png), post_form(client, nine_png)
    assert raw.status_code == form.status_code == 200
    assert raw.get_json() == form.get_json()
    body = raw.get_json()
    assert set(body) == {"prediction", "confidence", "probabilities"}
    assert body["prediction"] == 9 and body["confidence"] == max(body["probabilities"])
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/anything",
                                          "application/octet-stream"])
def test_the_content_type_names_a_picture_the_bytes_say_which(
        client: FlaskClient, nine_png: bytes, content_type: str) -> None:
    assert post_raw(client, nine_png, content_type).get_json()["prediction"] == 9


@pytest.mark.parametrize("query", ["?return_input=true", "?return_input=1",
                                   "?return_input=yes"])
def test_return_input_shows_what_the_model_saw(client: FlaskClient, nine_png: bytes,
                                               query: str) -> None:
    body = post_raw(client, nine_png, query=query).get_json()
    seen = np.array(body.pop("input"))
    assert seen.shape == (28, 28) and 0.0 <= seen.min() and seen.max() <= 1.0
    # The same 28x28 sent to /predict gets the same answer (to the input's 4 decimals).
    again = client.post("/predict", json={"data": seen.tolist()}).get_json()
    assert again["prediction"] == body["prediction"]
    assert again["confidence"] == pytest.approx(body["confidence"], abs=1e-3)


@pytest.mark.parametrize("query", ["", "?return_input=false", "?return_input=0"])
def test_no_input_unless_asked(client: FlaskClient, nine_png: bytes, query: str) -> None:
    assert "input" not in post_raw(client, nine_png, query=query).get_json()


def test_it_is_counted_as_one_inference(client: FlaskClient, nine_png: bytes) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    post_raw(client, nine_png)
    after = client.get("/metrics").get_data(as_text=True)
    for metric, labels in [("digitserve_inference_batch_size_count", {}),
                           ("digitserve_http_requests_total",
                            {"endpoint": "/predict/image", "status": "200"})]:
        assert sample_value(after, metric, **labels) == sample_value(before, metric,
                                                                     **labels) + 1


def test_the_routes_add_no_per_request_hooks(app: Flask) -> None:
    # /predict pays nothing for the picture route, the demo or the docs: no hook for the whole
    # app (key None) nor for these blueprints (a blueprint's hooks run for its routes only).
    # The pages' blueprints have one: their security headers.
    hooks = [app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
             app.url_value_preprocessors, app.url_default_functions]
    for functions in hooks:
        assert not any(functions.get(name) for name in (None, "predict", "image",
                                                          "health", "info")), functions
    assert {name: app.after_request_funcs[name] for name in browsers.PAGE_BLUEPRINTS} == {
        name: [browsers.add_page_headers] for name in browsers.PAGE_BLUEPRINTS}


def test_the_openapi_document_describes_the_route(client: FlaskClient) -> None:
    operation = client.get("/openapi.json").get_json()["paths"]["/predict/image"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "image/*"}
    assert [p["name"] for p in operation["parameters"]] == ["return_input"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(operation["responses"])


@pytest.fixture(scope="module")
def accuracy(app: Flask) -> dict[str, float]:
    """Send every held-out digit in every style to /predict/image; return each style's accuracy."""
    client = app.test_client()
    digits, labels = heldout_uint8()
    chosen = np.sort(np.concatenate([np.flatnonzero(labels == k)[:PER_CLASS] for k in range(10)]))
    digits, labels = digits[chosen], labels[chosen]
    found = {}
    for style in STYLES:
        predicted = [post_raw(client, data, CONTENT_TYPES[style]).get_json()["prediction"]
                     for data in render(style, digits)]
        found[style] = float(np.mean(np.array(predicted) == labels))
    print(f"\n/predict/image accuracy on {len(labels)} held-out digits: {found}")
    return found


@pytest.mark.parametrize("style", STYLES)
def test_each_style_meets_its_floor(accuracy: dict[str, float], style: str) -> None:
    assert accuracy[style] >= FLOOR_EACH, accuracy


def test_all_styles_together_meet_the_floor(accuracy: dict[str, float]) -> None:
    assert sum(accuracy.values()) / len(accuracy) >= FLOOR_ALL, accuracy


def test_the_renders_are_the_same_every_run() -> None:
    digits, _ = heldout_uint8()
    for style in STYLES:
        assert render(style, digits[:3]) == render(style, digits[:3])


def test_each_style_looks_as_described() -> None:
    digits, _ = heldout_uint8()
    opened = {style: Image.open(io.BytesIO(render(style, digits[:1])[0])) for style in STYLES}
    assert (opened["paper_jpeg"].format, opened["paper_jpeg"].size) == ("JPEG", (280, 280))
    strokes: npt.NDArray[np.uint8] = np.asarray(opened["transparent_png"])
    assert opened["transparent_png"].mode == "RGBA" and (strokes[..., :3] == 0).all()
    assert (strokes[..., 3] == 0).mean() > 0.5
    assert opened["small_off_centre"].size[0] >= 240
    assert (opened["plain_png"].size, opened["plain_png"].mode) == ((28, 28), "L")


def test_a_form_of_many_fields_is_a_413_naming_the_limit(client: FlaskClient,
                                                         nine_png: bytes) -> None:
    # 5,000 parts, about 440 KB, made here as bytes (the test client would spool its own form
    # to a temporary file it then leaves open).
    parts = [b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % n
             for n in range(5000)]
    parts.append(b'--b\r\nContent-Disposition: form-data; name="image"; filename="n.png"\r\n'
                 b"Content-Type: image/png\r\n\r\n" + nine_png + b"\r\n--b--\r\n")
    response = client.post("/predict/image", data=b"".join(parts),
                           content_type="multipart/form-data; boundary=b")
    assert response.status_code == 413
    assert response.json["message"].startswith("The multipart body has over 16 parts")


def test_a_compressed_form_is_refused(client: FlaskClient, nine_png: bytes) -> None:
    response = client.post("/predict/image", data={"image": (io.BytesIO(nine_png), "n.png")},
                           content_type="multipart/form-data",
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 415 and "cannot be compressed" in response.json["message"]
