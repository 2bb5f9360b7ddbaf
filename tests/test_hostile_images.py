"""Hostile and broken pictures on POST /predict/image: a clear JSON 4xx each, never a 5xx."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.pictures import encode
from tests.pictures import heldout_uint8
from tests.pictures import png_bomb
from tests.test_predict import assert_error
from tests.test_properties import FEWER
from tests.test_properties import RELAXED
from tests.test_properties import assert_answer

URL = "/predict/image"
FORM = "multipart/form-data"


def nine(fmt: str = "PNG") -> bytes:
    """The first held-out digit (a 9), dark on white, as a file."""
    return encode(Image.fromarray(255 - heldout_uint8()[0][0].reshape(28, 28)).convert("RGB"),
                  fmt)


def noisy(fmt: str) -> bytes:
    """A 200x200 picture of noise: every byte of it matters, so a cut is always noticed."""
    pixels = np.random.default_rng(7).integers(0, 256, (200, 200), dtype=np.uint8)
    return encode(Image.fromarray(pixels).convert("RGB"), fmt)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height."""
    data = bytearray(nine("JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5:frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def bad_crc(data: bytes) -> bytes:
    broken = bytearray(data)
    broken[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(broken)


Send = Callable[[FlaskClient], Any]


def raw(body: Callable[[], bytes], content_type: str | None = "image/png",
        query: str = "") -> Send:
    return lambda client: client.post(URL + query, data=body(), content_type=content_type)


def form(fields: Callable[[], dict[str, Any]], content_type: str = FORM) -> Send:
    return lambda client: client.post(URL, data=fields(), content_type=content_type)


# name: (how it is sent, the status, a fragment of the message).
HOSTILE: dict[str, tuple[Send, int, str]] = {
    "an empty body": (raw(lambda: b""), 400, "The image is empty"),
    "an empty image field": (form(lambda: {"image": (io.BytesIO(b""), "d.png")}), 400,
                             "The image is empty"),
    "text sent as image/png": (raw(lambda: b"a digit, honest"), 415,
                               "not a PNG, JPEG, WebP, BMP or GIF image"),
    "an SVG": (raw(lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
               415, "not a PNG, JPEG, WebP, BMP or GIF image"),
    "a TIFF": (raw(lambda: nine("TIFF"), "image/tiff"), 415, "not a PNG, JPEG, WebP, BMP or GIF"),
    "JSON": (raw(lambda: b'{"data": [0]}', "application/json"), 415,
             "Content-Type 'application/json' is not a picture"),
    "no Content-Type": (raw(lambda: nine(), None), 415, "is not a picture"),
    "a truncated PNG": (raw(lambda: noisy("PNG")[:5000]), 400,
                        "The PNG image could not be decoded: image file is truncated"),
    "a truncated JPEG": (raw(lambda: noisy("JPEG")[:5000], "image/jpeg"), 400,
                         "The JPEG image could not be decoded: image file is truncated"),
    "a PNG cut in its header": (raw(lambda: nine()[:40]), 400,
                                "starts as a PNG image but its header is broken"),
    "a PNG with a bad checksum": (raw(lambda: bad_crc(nine())), 400,
                                  "starts as a PNG image but its header is broken"),
    "a 40000x40000 PNG bomb": (raw(lambda: png_bomb(40000, 40000)), 413,
                               "40000x40000 = 1,600,000,000 pixels, over the limit of "
                               "4,194,304 (MAX_IMAGE_PIXELS)"),
    "a 5000x4000 PNG": (raw(lambda: png_bomb(5000, 4000)), 413,
                        "5000x4000 = 20,000,000 pixels, over the limit of 4,194,304"),
    "a JPEG claiming 60000x60000": (raw(lambda: jpeg_claiming(60000, 60000), "image/jpeg"), 413,
                                    "60000x60000 = 3,600,000,000 pixels, over the limit of "
                                    "89,478,485 for any picture"),
    "a form without an image field": (form(lambda: {"file": (io.BytesIO(nine()), "d.png")}),
                                      400, "no file field `image`"),
    "the image as a text field": (form(lambda: {"image": "iVBORw0KGgo="}), 400,
                                  "no file field `image`"),
    "a form without a boundary": (raw(lambda: nine(), FORM), 400, "no file field `image`"),
    "a blank white picture": (raw(lambda: encode(Image.new("L", (280, 280), 255), "PNG")), 422,
                              "The image has no ink"),
    "a blank black JPEG": (raw(lambda: encode(Image.new("RGB", (64, 64)), "JPEG"),
                               "image/jpeg"), 422, "The image has no ink"),
    "return_input=maybe": (raw(lambda: nine(), query="?return_input=maybe"), 422,
                           '"message":"The query string failed validation; see errors."'),
    "return_input=maybe, the field": (raw(lambda: nine(), query="?return_input=maybe"), 422,
                                      '"errors":{"query":{"return_input":["Not a valid '
                                      'boolean."]}}'),
    "a body over MAX_CONTENT_LENGTH": (raw(lambda: nine() + b"\0" * (4 << 20)), 413,
                                       "exceeds the capacity limit"),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_hostile_file_gets_its_4xx(client: FlaskClient, case: tuple[Send, int, str]) -> None:
    send, status, fragment = case
    response = send(client)
    body = assert_error(response, status)
    assert fragment in response.get_data(as_text=True), body


def test_a_lower_pixel_limit_is_obeyed(nine_app: Flask) -> None:
    response = nine_app.test_client().post(URL, data=nine(), content_type="image/png")
    assert assert_error(response, 413)["message"] == (
        "The image is 28x28 = 784 pixels, over the limit of 700 (MAX_IMAGE_PIXELS).")


@pytest.fixture(scope="module")
def nine_app() -> Flask:
    from app import create_app

    return create_app({"TESTING": True, "MAX_IMAGE_PIXELS": 700})


# Valid files of every format, to mutate.
SEEDS = [nine(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP")]


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at positions (modulo the length), then maybe cut the file short."""
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


mutated = st.builds(mutate, st.sampled_from(SEEDS),
                    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
                    st.none() | st.integers(0, 2000))


@RELAXED
@given(body=st.binary(max_size=2000))
def test_any_bytes_as_a_png_are_answered(client: FlaskClient, body: bytes) -> None:
    assert_answer(client.post(URL, data=body, content_type="image/png"))


@FEWER
@given(body=mutated)
def test_mutated_pictures_are_answered(client: FlaskClient, body: bytes) -> None:
    assert_answer(client.post(URL, data=body, content_type="image/png"))
    assert_answer(client.post(URL, content_type=FORM,
                              data={"image": (io.BytesIO(body), "digit.png")}))


@RELAXED
@given(body=st.binary(max_size=600), boundary=st.sampled_from(["x", "----b", ""]))
def test_any_multipart_body_is_answered(client: FlaskClient, body: bytes, boundary: str) -> None:
    content_type = f"{FORM}; boundary={boundary}" if boundary else FORM
    assert_answer(client.post(URL, data=body, content_type=content_type))
