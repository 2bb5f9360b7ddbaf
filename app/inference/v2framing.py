"""Open Inference Protocol bodies on the wire: the binary data framing."""

from __future__ import annotations

from app.inference.tensors import RequestError

HEADER_LENGTH = "Inference-Header-Content-Length"
_MAX_DIGITS = 19  # a byte count in an int64, at most


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """Split a body into its JSON header and the binary tensor data after it.

    :raises RequestError: if Inference-Header-Content-Length is not a byte count within body.
    """
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS):
        raise RequestError(f"{HEADER_LENGTH} must be a number of bytes, got {header_length!r}.")
    length = int(text)
    if length > len(body):
        raise RequestError(f"{HEADER_LENGTH} is {length} but the body has {len(body)} bytes.")
    return body[:length], memoryview(body)[length:]
