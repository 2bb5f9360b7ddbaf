"""Request bodies sent compressed: Content-Encoding gzip or deflate, decoded within the limit."""

from __future__ import annotations

import zlib

from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import UnsupportedMediaType

_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo a Content-Encoding (gzip or deflate, as tritonclient can send), up to limit bytes.

    :raises UnsupportedMediaType: (415) for any other encoding.
    :raises BadRequest: if the data is not one complete stream in the encoding.
    :raises RequestEntityTooLarge: (413) if the decoded body would be over limit bytes.
    """
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return body
    name = encoding.strip().lower()
    wbits = _DECODERS.get(name)
    if wbits is None:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, "
                                   f"deflate or none.")
    decoder = zlib.decompressobj(wbits)
    try:
        plain = decoder.decompress(body, limit + 1)
    except zlib.error as error:
        raise BadRequest(f"The body is not valid {name} data: {error}.") from None
    if len(plain) > limit:
        raise RequestEntityTooLarge(f"The body decodes to over {limit} bytes "
                                    f"(MAX_CONTENT_LENGTH).")
    if not decoder.eof or decoder.unused_data:
        raise BadRequest(f"The body is not one complete {name} stream.")
    return plain
