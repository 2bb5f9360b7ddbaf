"""Marshmallow fields that check whole pixel arrays at once, backed by numpy."""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from flask import current_app
from marshmallow import ValidationError
from marshmallow import fields

SIDE = 28
PIXELS = SIDE * SIDE
_NUMBERS = frozenset({int, float})  # exact types: bool is an int subclass and is refused
_JSON_TYPES = {str: "string", bool: "boolean", type(None): "null", list: "array", dict: "object"}

_PIXEL_DOC = {"type": "number", "minimum": 0, "maximum": 1}
_IMAGE_DOC = {
    "description": f"One image: {PIXELS} pixel values in [0, 1] row by row, or {SIDE} rows of "
                   f"{SIDE}; white digit on black, as in MNIST.",
    "oneOf": [
        {"type": "array", "items": _PIXEL_DOC, "minItems": PIXELS, "maxItems": PIXELS},
        {"type": "array", "minItems": SIDE, "maxItems": SIDE,
         "items": {"type": "array", "items": _PIXEL_DOC, "minItems": SIDE, "maxItems": SIDE}},
    ],
}


def flat_pixels(value: Any) -> list[Any]:
    """Return one image's pixel values as a flat list, after checking shape and JSON types.

    :raises ValidationError: if value is not 784 numbers or 28 lists of 28 numbers.
    """
    if not isinstance(value, list):
        raise ValidationError(f"Expected a list of {PIXELS} numbers or {SIDE} rows of {SIDE}, "
                              f"got {_json_type(value)}.")
    if len(value) == SIDE and all(isinstance(row, list) for row in value):
        bad_rows = [i for i, row in enumerate(value) if len(row) != SIDE]
        if bad_rows:
            raise ValidationError(f"Expected {SIDE} rows of {SIDE} numbers; row {bad_rows[0]} "
                                  f"has {len(value[bad_rows[0]])}.")
        value = list(chain.from_iterable(value))
    elif len(value) != PIXELS:
        raise ValidationError(f"Expected {PIXELS} numbers or {SIDE} rows of {SIDE}, "
                              f"got {len(value)} items.")
    if not set(map(type, value)) <= _NUMBERS:
        bad = next(v for v in value if type(v) not in _NUMBERS)
        raise ValidationError(f"Pixel values must be numbers, got {_json_type(bad)}.")
    pixels: list[Any] = value
    return pixels


def to_array(images: list[list[Any]]) -> npt.NDArray[np.float64]:
    """Turn flat pixel lists into an (N, 784) array.

    :raises ValidationError: if an integer is too large to be a float.
    """
    try:
        return np.array(images, dtype=np.float64)
    except OverflowError as error:
        raise ValidationError("Pixel values must be in [0, 1]; found a huge integer.") from error


def out_of_range(array: npt.NDArray[np.float64]) -> tuple[int, str] | None:
    """Find the first value outside [0, 1] (NaN and Infinity included).

    :returns: ``(image index, message)``, or None when every value is in range.
    """
    good = np.isfinite(array) & (array >= 0.0) & (array <= 1.0)
    if good.all():
        return None
    row, col = (int(i) for i in np.argwhere(~good)[0])
    bad = array[row, col]
    hint = "NaN and Infinity are not allowed" if not np.isfinite(bad) else "scale 0-255 by 1/255"
    return row, f"Pixel values must be in [0, 1] ({hint}); found {bad:g} at pixel {col}."


class DigitImage(fields.Field):  # type: ignore[type-arg]
    """One image as 784 numbers or 28 rows of 28; loads to a float64 array shaped (1, 784)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=_IMAGE_DOC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> npt.NDArray[np.float64]:
        array = to_array([flat_pixels(value)])
        problem = out_of_range(array)
        if problem:
            raise ValidationError(problem[1])
        return array


class DigitImageBatch(fields.Field):  # type: ignore[type-arg]
    """1 to MAX_BATCH images, each as DigitImage accepts; loads to an (N, 784) float64 array."""

    def __init__(self, **kwargs: Any) -> None:
        doc = {"description": "1 to MAX_BATCH (default 256) images.", "type": "array",
               "items": _IMAGE_DOC, "minItems": 1}
        super().__init__(metadata=doc, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> npt.NDArray[np.float64]:
        limit = current_app.config["MAX_BATCH"]
        if not isinstance(value, list) or not 1 <= len(value) <= limit:
            size = f"{len(value)} images" if isinstance(value, list) else _json_type(value)
            raise ValidationError(f"Expected a list of 1 to {limit} images, got {size}.")
        images, errors = [], {}
        for index, image in enumerate(value):
            try:
                images.append(flat_pixels(image))
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)
        array = to_array(images)
        problem = out_of_range(array)
        if problem:
            raise ValidationError({problem[0]: [problem[1]]})
        return array


def _json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way a client wrote it."""
    return _JSON_TYPES.get(type(value), "number")


class FloatList(fields.List):  # type: ignore[type-arg]
    """A list of floats, dumped as it is: the model layer already made plain Python floats."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Float(), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class PixelRows(fields.List):  # type: ignore[type-arg]
    """Rows of pixel values, dumped as they are (the view already made plain Python floats)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(FloatList(), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value
