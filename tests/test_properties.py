"""Property tests: whatever a client sends, the answer is a 200 or a JSON 4xx, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

RELAXED = settings(max_examples=200, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow, HealthCheck.data_too_large])
# Whole images are slow to generate; fewer examples of them.
FEWER = settings(RELAXED, max_examples=100)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=4),
    max_leaves=20,
)
# Images as numpy arrays with a fill value: far quicker to generate than lists of 784 draws.
pixels = (arrays(np.float64, 784, elements=st.floats(0.0, 1.0), fill=st.floats(0.0, 1.0))
          | arrays(np.int64, 784, elements=st.integers(0, 1)))
flat_image = pixels.map(lambda a: a.tolist())
nested_image = pixels.map(lambda a: a.reshape(28, 28).tolist())
# Nearly valid images: the right size with one value swapped for anything.
broken_image = st.tuples(flat_image, st.integers(0, 783), json_values).map(
    lambda t: t[0][: t[1]] + [t[2]] + t[0][t[1] + 1:])


def post_json(client: FlaskClient, path: str, body: Any) -> Any:
    """POST body as JSON written by the standard library (which, unlike orjson, writes any
    integer and NaN), as an arbitrary client could."""
    return client.post(path, data=json.dumps(body), content_type="application/json")


def assert_answer(response: Any) -> None:
    """Check the response is a 200, or a 4xx with the common JSON error shape."""
    assert response.status_code == 200 or 400 <= response.status_code < 500
    assert response.mimetype == "application/json"
    if response.status_code != 200:
        body = response.get_json()
        assert body["code"] == response.status_code
        assert body["status"] and body["message"]


@pytest.mark.parametrize(("path", "key"), [("/predict", "data"), ("/predict/batch", "instances")])
@RELAXED
@given(value=json_values)
def test_any_json_value_is_answered(client: FlaskClient, path: str, key: str,
                                    value: Any) -> None:
    assert_answer(post_json(client, path, {key: value}))


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@RELAXED
@given(body=st.binary(max_size=200))
def test_any_body_bytes_are_answered(client: FlaskClient, path: str, body: bytes) -> None:
    assert_answer(client.post(path, data=body, content_type="application/json"))


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@RELAXED
@given(body=json_values)
def test_any_json_document_is_answered(client: FlaskClient, path: str, body: Any) -> None:
    assert_answer(post_json(client, path, body))


@FEWER
@given(image=broken_image)
def test_nearly_valid_images_are_answered(client: FlaskClient, image: list[Any]) -> None:
    response = post_json(client, "/predict", {"data": image})
    assert_answer(response)


@FEWER
@given(image=flat_image | nested_image)
def test_valid_images_get_a_distribution(client: FlaskClient, image: list[Any]) -> None:
    response = post_json(client, "/predict", {"data": image})
    assert response.status_code == 200
    body = response.get_json()
    assert 0 <= body["prediction"] <= 9
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)


@FEWER
@given(images=st.lists(flat_image | broken_image, min_size=1, max_size=4))
def test_batches_are_answered(client: FlaskClient, images: list[list[Any]]) -> None:
    response = post_json(client, "/predict/batch", {"instances": images})
    assert_answer(response)
    if response.status_code == 200:
        assert response.get_json()["count"] == len(images)


@FEWER
@given(images=st.lists(flat_image | nested_image, min_size=1, max_size=4))
def test_valid_batches_get_a_distribution_each(client: FlaskClient,
                                               images: list[list[Any]]) -> None:
    response = post_json(client, "/predict/batch", {"instances": images})
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == len(images)
    for result in body["predictions"]:
        assert 0 <= result["prediction"] <= 9
        assert sum(result["probabilities"]) == pytest.approx(1.0, abs=1e-4)
