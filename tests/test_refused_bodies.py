"""A refused body (and a picture) is let go with its request, not at the next collection.

Each test turns the collector off, sends a large body that fails validation (or a picture),
then counts the memory blocks Python still holds (sys.getallocatedblocks) and looks for the
request and a picture's stream among the live objects. A reference cycle would keep the parsed
body (hundreds of thousands of objects), the picture's bytes and the request until the next
full collection.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from collections.abc import Iterator

import flask
import orjson
import pytest
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from app.inference.pictures.budget import MeteredBytes
from tests import hostile_pictures as hp
from tests.pictures import encode
from tests.pictures import png_bomb
from tests.test_hostile_images import nine
from tests.test_v2 import INFER

# A parsed body of many small objects: {} costs 3 bytes of JSON and 64 of memory.
MANY = 200_000
Send = Callable[[FlaskClient], TestResponse]


def send_json(path: str, document: object) -> Send:
    body = orjson.dumps(document)
    return lambda client: client.post(path, data=body, content_type="application/json")


def v2_bad_input() -> dict[str, object]:
    """A v2 request whose one input fails its nested schema (shape), with a large `data`."""
    return {"inputs": [{"name": "image", "shape": "wrong", "datatype": "FP32",
                        "data": [{}] * MANY}]}


def picture(data: Callable[[], bytes]) -> Send:
    body = data()
    return lambda client: client.post("/predict/image", data=body, content_type="image/png")


REFUSED: dict[str, tuple[Send, int]] = {
    "batch over MAX_BATCH": (send_json("/predict/batch", {"instances": [{}] * MANY}), 422),
    "batch with one bad value": (send_json("/predict/batch", {"instances": [
        [0.5] * 784 for _ in range(255)] + [[2.0] * 784]}), 422),
    "predict with the wrong size": (send_json("/predict", {"data": [{}] * MANY}), 422),
    "v2 with a bad input": (send_json(INFER, v2_bad_input()), 400),
    "picture with a bad query": (lambda client: client.post(
        "/predict/image?return_input=maybe", data=nine(), content_type="image/png"), 422),
    "picture answered": (picture(nine), 200),
    "picture cut short": (picture(lambda: nine()[:200]), 400),
    "picture without ink": (picture(lambda: encode(Image.new("L", (99, 99)), "PNG")), 422),
    "picture over its budget": (picture(lambda: png_bomb(5000, 4000)), 413),
    "picture of 5,000 chunks": (picture(lambda: hp.png_with_chunks(nine(), 5000)), 422),
}


@pytest.fixture()
def no_collector() -> Iterator[None]:
    """Turn the cyclic garbage collector off for the test, as if it had not run yet."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_body_is_freed_without_the_collector(client: FlaskClient, no_collector: None,
                                                       case: tuple[Send, int]) -> None:
    send, status = case
    assert send(client).status_code == status  # warm: first-call caches, interned strings
    before = sys.getallocatedblocks()
    response = send(client)
    assert response.status_code == status, response.get_data(as_text=True)
    del response
    held = sys.getallocatedblocks() - before
    assert held < 5_000, f"{held:,} blocks held after the request: a reference cycle"
    left = [thing for thing in gc.get_objects() if isinstance(thing, (flask.Request,
                                                                     MeteredBytes))]
    assert not left, f"{left} outlived the answer: a reference cycle holds it"
