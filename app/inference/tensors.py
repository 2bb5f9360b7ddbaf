"""Open Inference Protocol tensors as numpy: image batches in, model outputs out (no Flask)."""

from __future__ import annotations

from typing import Any
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from app.fields import out_of_range
from app.inference.contract import LAYOUTS
from app.inference.contract import PIXELS
from app.inference.model import INPUT_SHAPE

FP32 = "FP32"
INT64 = "INT64"
# What follows N in an image tensor's shape: any layout a model may take (contract.py).
IMAGE_SHAPES = tuple(LAYOUTS.values())
SHAPES_TEXT = "[N, 1, 28, 28], [N, 28, 28], [N, 784] or [N, 28, 28, 1]"
# Little-endian, as the binary tensor data extension says, whatever the host.
WIRE_DTYPES: dict[str, np.dtype[Any]] = {FP32: np.dtype("<f4"), INT64: np.dtype("<i8")}
_FP32_WIRE = np.dtype("<f4")
_NUMBERS = frozenset({int, float})  # exact types: bool is an int subclass and is refused
Floats = TypeVar("Floats", np.float32, np.float64)
_JSON_TYPES = {str: "a string", bool: "a boolean", type(None): "null", list: "an array",
               dict: "an object"}


class RequestError(ValueError):
    """An inference request the protocol or the model cannot take; the message says why."""

    status = 400  # the HTTP status that answers it


def image_count(name: str, shape: list[int], max_batch: int) -> int:
    """Return N, the number of images an input of this shape holds.

    :raises RequestError: unless shape is one of SHAPES_TEXT with N from 1 to max_batch.
    """
    if shape and tuple(shape[1:]) in IMAGE_SHAPES and 1 <= shape[0] <= max_batch:
        return shape[0]
    raise RequestError(f"Input '{name}' has shape {shape}; expected {SHAPES_TEXT} with N "
                       f"from 1 to {max_batch}.")


def from_binary(name: str, raw: memoryview, count: int) -> npt.NDArray[np.float32]:
    """Read count images of little-endian float32 pixels, without copying them.

    :raises RequestError: if raw is not exactly count images, or a value is outside [0, 1].
    """
    size = count * PIXELS * _FP32_WIRE.itemsize
    if len(raw) != size:
        raise RequestError(f"Input '{name}' has {len(raw)} bytes of binary data; its shape "
                           f"needs {size} (FP32 is 4 bytes a value).")
    pixels = np.frombuffer(raw, dtype=_FP32_WIRE).reshape(count, *INPUT_SHAPE)
    return checked(name, pixels.astype(np.float32, copy=False))


def from_json(name: str, data: Any, shape: list[int], count: int) -> npt.NDArray[np.float32]:
    """Read JSON tensor data, flat or nested as shape says, in row-major order.

    :raises RequestError: if data does not fit shape, holds anything but numbers, or a value
        is outside [0, 1].
    """
    if not isinstance(data, list):
        raise RequestError(f"Input '{name}' data must be an array of numbers, got "
                           f"{_json_type(data)}.")
    types = set(map(type, data))
    if list in types:  # nested: it must nest exactly as the shape says
        try:
            nested = np.array(data, dtype=object)
        except ValueError as error:
            raise RequestError(f"Input '{name}' data does not nest as shape {shape}.") from error
        if nested.shape != tuple(shape):
            found = (list(nested.shape) if nested.ndim <= len(shape) + 1
                     else f"{nested.ndim} levels deep")
            raise RequestError(f"Input '{name}' data nests as {found}; its shape is {shape} "
                               f"(or send {count * PIXELS} values flat).")
        data = nested.ravel().tolist()
        types = set(map(type, data))
    if not types <= _NUMBERS:
        bad = next(value for value in data if type(value) not in _NUMBERS)
        raise RequestError(f"Input '{name}' data must be numbers, got {_json_type(bad)}.")
    if len(data) != count * PIXELS:
        raise RequestError(f"Input '{name}' has {len(data)} values; its shape {shape} needs "
                           f"{count * PIXELS}.")
    try:
        # float64 first: a value too large for float32 must be refused, not become infinity.
        wide = np.array(data, dtype=np.float64).reshape(count, *INPUT_SHAPE)
    except OverflowError as error:
        raise RequestError(f"Input '{name}' values must be in [0, 1]; found a huge "
                           f"integer.") from error
    return checked(name, wide).astype(np.float32)


def checked(name: str, batch: npt.NDArray[Floats]) -> npt.NDArray[Floats]:
    """Return batch if every value is in [0, 1]; NaN and infinity are not.

    :raises RequestError: naming the image and pixel of the first bad value.
    """
    if batch.min() >= 0.0 and batch.max() <= 1.0:  # NaN fails both: min and max propagate it
        return batch
    problem = out_of_range(batch.reshape(len(batch), PIXELS).astype(np.float64))
    row, message = problem if problem else (0, "Pixel values must be in [0, 1].")
    raise RequestError(f"Input '{name}' image {row}: {message}")


def labels(probabilities: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Return each row's most probable digit."""
    top: npt.NDArray[np.int64] = probabilities.argmax(axis=1).astype(np.int64)
    return top


def to_wire(array: npt.NDArray[Any], datatype: str) -> bytes:
    """Return array's values as the binary tensor data extension sends them."""
    raw: bytes = array.astype(WIRE_DTYPES[datatype], copy=False).tobytes()
    return raw


def _json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way a client wrote it."""
    return _JSON_TYPES.get(type(value), "a number")
