"""Open Inference Protocol bodies on the wire: content decoding and the binary data framing."""

from __future__ import annotations

import zlib

from app.inference.tensors import RequestError

HEADER_LENGTH = "Inference-Header-Content-Length"
_MAX_DIGITS = 19  # a byte count in an int64, at most
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyTooLargeError(RequestError):
    """A compressed body that decodes to more than the body-size limit."""

    status = 413


class UnsupportedEncodingError(RequestError):
    """A Content-Encoding other than gzip, deflate or identity."""

    status = 415


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo a Content-Encoding (gzip or deflate, as tritonclient can send), up to limit bytes.

    :raises UnsupportedEncodingError: if the encoding is not one of those.
    :raises RequestError: if the data is not in the encoding.
    :raises BodyTooLargeError: if the decoded body would be over limit bytes.
    """
    if encoding is None or encoding.lower() == "identity":
        return body
    wbits = _DECODERS.get(encoding.lower())
    if wbits is None:
        raise UnsupportedEncodingError(f"Content-Encoding {encoding!r} is not supported; send "
                                       f"gzip, deflate or none.")
    decoder = zlib.decompressobj(wbits)
    try:
        plain = decoder.decompress(body, limit + 1)
    except zlib.error as error:
        raise RequestError(f"The body is not valid {encoding} data: {error}.") from error
    if len(plain) > limit:
        raise BodyTooLargeError(f"The body decodes to over {limit} bytes.")
    if not decoder.eof or decoder.unused_data:
        raise RequestError(f"The body is not one complete {encoding} stream.")
    return plain


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
