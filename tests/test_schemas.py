"""The request schemas alone: what they accept, what they refuse and the messages they give."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from flask import Flask
from marshmallow import ValidationError

from app.schemas import BatchRequestSchema
from app.schemas import PredictRequestSchema

FLAT = [0.5] * 784
NESTED = [[0.25] * 28 for _ in range(28)]


def test_flat_and_nested_load_to_one_row() -> None:
    flat = PredictRequestSchema().load({"data": FLAT})["data"]
    nested = PredictRequestSchema().load({"data": NESTED})["data"]
    assert flat.shape == nested.shape == (1, 784)
    assert flat.dtype == np.float64
    assert np.all(flat == 0.5) and np.all(nested == 0.25)


def test_integers_and_bounds_are_numbers() -> None:
    data = PredictRequestSchema().load({"data": [0] * 783 + [1]})["data"]
    assert data[0, -1] == 1.0 and data[0, 0] == 0.0


def test_unknown_keys_are_ignored() -> None:
    assert set(PredictRequestSchema().load({"data": FLAT, "model": "x"})) == {"data"}


def _error(schema: Any, body: Any) -> Any:
    with pytest.raises(ValidationError) as info:
        schema.load(body)
    return info.value.messages


@pytest.mark.parametrize(("data", "fragment"), [
    ([0.5] * 100, "got 100 items"),
    ([0.5] * 1000, "got 1000 items"),
    ([], "got 0 items"),
    ("0.5", "got string"),
    (0.5, "got number"),
    ({"a": 1}, "got object"),
    (["0.5"] * 784, "got string"),
    ([None] * 784, "got null"),
    ([True] * 784, "got boolean"),
    ([0.5] * 783 + [False], "got boolean"),
    ([[0.5] * 784], "got 1 items"),
    ([[0.5] * 27 for _ in range(28)], "row 0 has 27"),
    ([[0.5] * 28 for _ in range(27)], "got 27 items"),
    ([[[0.5]] * 28 for _ in range(28)], "got array"),
    ([0.5] * 783 + [[0.5]], "got array"),
    ([math.nan] * 784, "NaN and Infinity"),
    ([0.5] * 783 + [math.inf], "NaN and Infinity"),
    ([0.5] * 783 + [-math.inf], "NaN and Infinity"),
    ([255] * 784, "found 255 at pixel 0"),
    ([0.5] * 10 + [-0.01] + [0.5] * 773, "found -0.01 at pixel 10"),
    ([0.5] * 783 + [1.0001], "found 1.0001"),
    ([0.5] * 783 + [10**400], "huge integer"),
])
def test_bad_images_name_the_field(data: Any, fragment: str) -> None:
    messages = _error(PredictRequestSchema(), {"data": data})
    assert list(messages) == ["data"]
    assert fragment in " ".join(messages["data"])


@pytest.mark.parametrize("body", [{}, {"image": FLAT}, {"data": None}])
def test_missing_or_null_data(body: dict[str, Any]) -> None:
    assert "data" in _error(PredictRequestSchema(), body)


def test_batch_loads_in_order(app: Flask) -> None:
    with app.app_context():
        rows = BatchRequestSchema().load({"instances": [FLAT, NESTED, [0.0] * 784]})["instances"]
    assert rows.shape == (3, 784)
    assert list(rows[:, 0]) == [0.5, 0.25, 0.0]


@pytest.mark.parametrize(("instances", "fragment"), [
    ([], "got 0 images"),
    ([FLAT] * 257, "got 257 images"),
    (FLAT, "got 784 images"),
    ("x", "got string"),
    (None, "null"),
])
def test_batch_size_and_type(app: Flask, instances: Any, fragment: str) -> None:
    with app.app_context():
        messages = _error(BatchRequestSchema(), {"instances": instances})
    assert fragment in " ".join(messages["instances"])


def test_batch_names_each_bad_instance(app: Flask) -> None:
    body = {"instances": [FLAT, [0.5] * 100, FLAT, ["x"] * 784]}
    with app.app_context():
        messages = _error(BatchRequestSchema(), body)
    assert sorted(messages["instances"]) == [1, 3]


def test_batch_names_the_instance_out_of_range(app: Flask) -> None:
    body = {"instances": [FLAT, FLAT, [0.5] * 783 + [2.0]]}
    with app.app_context():
        messages = _error(BatchRequestSchema(), body)
    assert list(messages["instances"]) == [2]
    assert "found 2 at pixel 783" in messages["instances"][2][0]
