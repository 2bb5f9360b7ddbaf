"""What decoding a picture may cost: its size from the header, and CPU time while it decodes.

Before anything is decoded, a picture is refused if decoding it would hold too much: more than
max_pixels pixels at the size it is decoded at, or, for a progressive or multi-scan JPEG (held
whole while it decodes), more than SAMPLES_PER_PIXEL x max_pixels samples. While it decodes,
the decoder reads its input from a stream that stops it once the thread's CPU time is spent.
"""

from __future__ import annotations

import io
import time

from PIL import Image

from app.inference.pictures.errors import ImageTooLargeError
from app.inference.pictures.layout import Header

# A whole-image JPEG buffer costs 2 bytes a sample: 8 samples a pixel of max_pixels is 16
# bytes a pixel, what decoding the largest WebP allowed costs (64 MB at 4 megapixels).
SAMPLES_PER_PIXEL = 8
# CPU time decoding may take for each 4 megapixels of max_pixels (never less): the largest
# progressive JPEG allowed takes about 0.35 s, a 4-megapixel PNG about 0.05 s.
DECODE_CPU_S = 0.5
_PER_PIXELS = 4 * 1024 * 1024


class Overtime(BaseException):
    """The decoder asked for more input after its CPU time ran out.

    A BaseException, as asyncio's CancelledError is: no `except Exception` in Pillow's readers
    may swallow it.
    """


class MeteredBytes(io.BytesIO):
    """A picture's bytes, which refuse to be read once the reading thread's CPU time is spent.

    Pillow reads its input piece by piece, opening and decoding alike (its Python loops over
    chunks, blocks and segments a few bytes at a time), so a reader that runs long is stopped
    at its next read. The clock is read before each large read and every 16th small one: a
    header is read a few bytes at a time, and the clock costs a system call.
    """

    def __init__(self, data: bytes, cpu_seconds: float) -> None:
        super().__init__(data)
        self.deadline = time.thread_time() + cpu_seconds
        self.reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        """Read as BytesIO does, unless the CPU time is spent."""
        self.reads += 1
        if ((size is None or not 0 <= size < 4096 or not self.reads & 15)
                and time.thread_time() > self.deadline):
            raise Overtime
        return super().read(size)


def cpu_budget(max_pixels: int) -> float:
    """Return the CPU seconds a picture's decoding may take under a pixel limit."""
    return DECODE_CPU_S * max(1.0, max_pixels / _PER_PIXELS)


def check_size(header: Header, max_pixels: int) -> None:
    """Refuse, from its header, a picture that would decode to too much.

    :raises ImageTooLargeError: over max_pixels pixels (a JPEG is checked again at the scale
        it is decoded at), over Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS), or
        a whole-image JPEG buffer over SAMPLES_PER_PIXEL x max_pixels samples.
    """
    pixels = header.width * header.height
    size = f"{header.width}x{header.height} = {pixels:,} pixels"
    if header.kind != "JPEG" and pixels > max_pixels:
        raise ImageTooLargeError(f"The image is {size}, over the limit of {max_pixels:,} "
                                 f"(MAX_IMAGE_PIXELS).")
    bomb = Image.MAX_IMAGE_PIXELS  # Pillow's decompression-bomb limit (None: none)
    if bomb is not None and pixels > bomb:
        raise ImageTooLargeError(f"The image is {size}, over the limit of {bomb:,} for any "
                                 f"picture, even a JPEG decoded at a reduced scale.")
    if header.held > SAMPLES_PER_PIXEL * max_pixels:
        raise ImageTooLargeError(
            f"The image is {size}, {header.how}: decoding it holds all {header.held:,} "
            f"samples at full size, over the limit of {SAMPLES_PER_PIXEL * max_pixels:,} "
            f"({SAMPLES_PER_PIXEL} x MAX_IMAGE_PIXELS). Save it as a baseline JPEG, or "
            f"smaller.")
