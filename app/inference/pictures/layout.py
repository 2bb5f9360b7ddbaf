"""What a picture's header says, and how much structure a picture may have before it is refused.

The limits are far above what cameras, phones, editors and browsers write, and far below what
makes Pillow's Python loops (one pass per chunk, block, segment or EXIF entry) or libjpeg's
scans cost a worker seconds: each is reached in milliseconds by a crafted file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.inference.pictures.errors import ImageTooComplexError

# Chunks (PNG, WebP), blocks before the first image (GIF), segments and stray bytes (JPEG).
# A 4 MB PNG in libpng's 8 KB IDAT chunks has about 500.
MAX_BLOCKS = 4096
# Scans in one JPEG. libjpeg's progressive scripts write 6 (grey), 10 (colour) or 18 (CMYK);
# each scan is a pass over the whole picture, and an empty one costs 4 bytes to send.
MAX_SCANS = 32
# PNG chunks Pillow inflates while reading the header (zTXt, compressed iTXt, iCCP), each to
# at most 1 MB.
MAX_INFLATED = 8
# Entries in the first directory of an EXIF block (a camera writes 10 to 30); Pillow reads
# them one by one in Python.
MAX_EXIF_ENTRIES = 256
# Pillow decodes RLE-compressed BMPs in Python, about a pixel per microsecond.
RLE_MAX_PIXELS = 512 * 512
_BYTE_ORDERS: dict[bytes, Literal["little", "big"]] = {b"II*\x00": "little", b"MM\x00*": "big"}


@dataclass(frozen=True, slots=True)
class Header:
    """A picture's format and size, read without decoding it."""

    kind: str  # Pillow's format name: PNG, JPEG, WEBP, BMP or GIF
    width: int  # the size Pillow will give the picture (0 x 0 when the header is cut short)
    height: int
    held: int = 0  # samples a decoder holds at full size while it decodes a JPEG (0: none)
    how: str = ""  # why it holds them, for the error message


def count(number: int, limit: int, what: str) -> None:
    """Refuse a picture once a count in its structure passes its limit.

    :raises ImageTooComplexError: naming the count (e.g. "chunks in the PNG") and the limit.
    """
    if number > limit:
        raise ImageTooComplexError(f"The file has over {limit:,} {what}; real pictures have "
                                   f"far fewer, and each costs time to read.")


def check_exif(block: bytes | memoryview,
               what: str = "its EXIF block's first directory") -> None:
    """Refuse an EXIF block (a TIFF header and directories) whose first directory is too long.

    what: what the block is, for the message (a JPEG's multi-picture index is one too).

    :raises ImageTooComplexError: over MAX_EXIF_ENTRIES entries.
    """
    order = _BYTE_ORDERS.get(bytes(block[:4]))
    if order is None or len(block) < 8:
        return  # not EXIF that Pillow can read: it skips it
    start = int.from_bytes(block[4:8], order)
    entries = int.from_bytes(block[start:start + 2], order)
    count(entries, MAX_EXIF_ENTRIES, f"entries in {what}")
