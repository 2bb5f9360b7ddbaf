"""Which format a picture is, and what its header says, read without decoding it.

Each reader walks only the structure (chunks, blocks, segments), counting it as it goes, so a
file built from millions of tiny pieces is refused after a few thousand, in milliseconds. A
header that is cut short or broken is left for Pillow to refuse with its own reason.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from app.inference.pictures.errors import ImageTooLargeError
from app.inference.pictures.errors import NotAnImageError
from app.inference.pictures.jpeg_header import read_jpeg
from app.inference.pictures.layout import MAX_BLOCKS
from app.inference.pictures.layout import MAX_INFLATED
from app.inference.pictures.layout import RLE_MAX_PIXELS
from app.inference.pictures.layout import Header
from app.inference.pictures.layout import count

FORMAT_NAMES = "PNG, JPEG, WebP, BMP or GIF"
_GIF_BLOCK = re.compile(rb"[!,;]")  # an extension, an image, the trailer
# How each format's files start: a file that starts as one but fails is broken, not foreign.
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF",
              b"GIF89a": "GIF", b"BM": "BMP", b"RIFF": "WEBP"}


def sniff(data: bytes) -> str:
    """Name the format the bytes start as (Pillow's name for it).

    :raises NotAnImageError: if they start as none of PNG, JPEG, WebP, BMP or GIF.
    """
    kind = next((kind for start, kind in SIGNATURES.items() if data.startswith(start)), None)
    if kind is None or (kind == "WEBP" and data[8:12] != b"WEBP"):
        raise NotAnImageError(f"The file is not a {FORMAT_NAMES} image.")
    return kind


def read_header(data: bytes) -> Header:
    """Read a picture's format and size, and check its structure, without decoding it.

    :raises ImageError: NotAnImageError for a foreign format or kind; ImageTooComplexError or
        ImageTooLargeError for a structure past the limits in app.inference.pictures.layout.
    """
    return _READERS[sniff(data)](data)


def read_png(data: bytes) -> Header:
    """Count the chunks, and those Pillow inflates while it reads the header."""
    width, height = struct.unpack(">II", data[16:24]) if len(data) >= 24 else (0, 0)
    at, chunks, inflated = 8, 0, 0
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        chunks += 1
        count(chunks, MAX_BLOCKS, "chunks in the PNG")
        body = at + 8
        if kind in (b"zTXt", b"iCCP") or (kind == b"iTXt" and _iTXt_compressed(data, body)):
            inflated += 1
            count(inflated, MAX_INFLATED, "compressed text or colour-profile chunks in the PNG")
        elif kind == b"IEND":
            break
        at = body + length + 4
    return Header("PNG", width, height)


def _iTXt_compressed(data: bytes, body: int) -> bool:
    """Tell whether the iTXt chunk whose body starts there is compressed (its flag byte)."""
    keyword_end = data.find(b"\0", body, body + 80)
    return keyword_end >= 0 and data[keyword_end + 1:keyword_end + 2] == b"\x01"


def read_gif(data: bytes) -> Header:
    """Count the blocks (and stray bytes) before the first image; its size grows the
    screen's, as in Pillow."""
    if len(data) < 13:
        return Header("GIF", 0, 0)
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    at, blocks = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0), 0
    while at < len(data) and data[at] not in b",;":
        if data[at] == 0x21:  # an extension: label, sub-blocks, an empty one
            at += 2
            while at < len(data):
                blocks += 1
                count(blocks, MAX_BLOCKS, "blocks and stray bytes before the GIF's first image")
                at, size = at + 1 + data[at], data[at]
                if size == 0:
                    break
        else:  # Pillow skips any other byte, one at a time
            found = _GIF_BLOCK.search(data, at, at + MAX_BLOCKS + 1)
            end = found.start() if found else min(len(data), at + MAX_BLOCKS + 1)
            blocks, at = blocks + end - at, end
            count(blocks, MAX_BLOCKS, "blocks and stray bytes before the GIF's first image")
    if data[at:at + 1] == b"," and at + 9 <= len(data):  # the first image's descriptor
        left, top, frame_width, frame_height = struct.unpack_from("<HHHH", data, at + 1)
        width, height = max(width, left + frame_width), max(height, top + frame_height)
    return Header("GIF", width, height)


def read_bmp(data: bytes) -> Header:
    """Read the size and compression; refuse a large RLE-compressed one.

    :raises ImageTooLargeError: for RLE4 or RLE8 over RLE_MAX_PIXELS.
    """
    if len(data) < 34:
        return Header("BMP", 0, 0)
    if int.from_bytes(data[14:18], "little") == 12:  # OS/2 1.x: 16-bit sizes, no compression
        width, height, compression = *struct.unpack_from("<HH", data, 18), 0
    else:
        width, height, compression = struct.unpack_from("<ii4xI", data, 18)
    height = abs(height)
    if compression in (1, 2) and width * height > RLE_MAX_PIXELS:
        raise ImageTooLargeError(f"The BMP is RLE-compressed and {width}x{height} = "
                                 f"{width * height:,} pixels, over the limit of "
                                 f"{RLE_MAX_PIXELS:,} for RLE (Pillow decodes it slowly); send "
                                 f"it uncompressed or as a PNG.")
    return Header("BMP", width, height)


def read_webp(data: bytes) -> Header:
    """Read the canvas size from the first chunk; count the chunks."""
    width = height = 0
    first = data[12:16]
    if first == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif first == b"VP8 " and len(data) >= 30:
        width, height = (int.from_bytes(data[26:28], "little") & 0x3FFF,
                         int.from_bytes(data[28:30], "little") & 0x3FFF)
    elif first == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    at, chunks = 12, 0
    while at + 8 <= len(data):
        length = int.from_bytes(data[at + 4:at + 8], "little")
        chunks += 1
        count(chunks, MAX_BLOCKS, "chunks in the WebP")
        at += 8 + length + (length & 1)
    return Header("WEBP", width, height)


_READERS: dict[str, Callable[[bytes], Header]] = {
    "PNG": read_png, "JPEG": read_jpeg, "GIF": read_gif, "BMP": read_bmp, "WEBP": read_webp}
