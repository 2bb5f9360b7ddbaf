"""A JPEG's header, walked marker by marker without decoding: its frame, scans and segments."""

from __future__ import annotations

import re

from app.inference.pictures.errors import NotAnImageError
from app.inference.pictures.layout import MAX_BLOCKS
from app.inference.pictures.layout import MAX_SCANS
from app.inference.pictures.layout import Header
from app.inference.pictures.layout import check_exif
from app.inference.pictures.layout import count

_SEQUENTIAL = frozenset({0xC0, 0xC1, 0xC9})  # baseline, extended, arithmetic-coded
_PROGRESSIVE = frozenset({0xC2, 0xCA})  # Huffman- or arithmetic-coded
_REFUSED = {0xC3: "lossless", 0xCB: "lossless", **dict.fromkeys(
    (0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF), "hierarchical")}
# TEM, SOI, RSTn; and JPG, JPGn, whose length Pillow does not read: it skips what follows a
# byte at a time, so the walk counts it as stray bytes (libjpeg refuses these markers).
_WITHOUT_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8), 0xC8, *range(0xF0, 0xFE)})
# Every marker Pillow reads as a frame header, one component (3 bytes) at a time.
_FRAMES = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xDE})
# A scan's entropy-coded data ends at the first 0xFF followed by neither 0x00 (a stuffed
# 0xFF), RSTn nor 0xFF (fill).
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_PIECES = ("segments and stray bytes in the JPEG (a frame header's component, a quantization "
           "table or a Photoshop resource counts as a segment)")


def read_jpeg(data: bytes) -> Header:
    """Walk the first image's markers, up to its EOI: its frame, its scans, its segments.

    A progressive JPEG, or one whose first scan lacks a component, is decoded into a
    whole-image buffer of 16-bit coefficients, one per sample at full size, whatever the
    scale of the output: `held` counts those samples.

    :raises ImageTooComplexError: over MAX_SCANS scans, over MAX_BLOCKS segments and stray
        bytes (Pillow reads the header a byte at a time in Python), or an EXIF block or
        multi-picture index (MPF) over MAX_EXIF_ENTRIES entries.
    :raises NotAnImageError: for the lossless and hierarchical processes.
    """
    at, blocks, scans, first_scan = 2, 0, 0, 0
    frame: tuple[int, bytes] | None = None
    exif = memoryview(b"")
    while at + 3 < len(data):
        if data[at] != 0xFF or data[at + 1] in (0x00, 0xFF):  # junk, or fill before a marker
            found = data.find(b"\xff", at + 1)
            skipped = (found if found > 0 else len(data)) - at
            blocks, at = blocks + skipped, at + skipped
            count(blocks, MAX_BLOCKS, _PIECES)
            continue
        marker = data[at + 1]
        if marker == 0xD9:  # EOI: what follows belongs to another image (MPO) or nothing
            break
        if marker in _WITHOUT_LENGTH:
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big")
        end = at + 2 + max(length, 2)
        blocks += 1 + _items(data, marker, at + 4, end)
        count(blocks, MAX_BLOCKS, _PIECES)
        if frame is None and (marker in _SEQUENTIAL or marker in _PROGRESSIVE
                              or marker in _REFUSED):
            frame = marker, data[at + 4:end]
        elif marker == 0xE1 and not exif and data.startswith(b"Exif\0\0", at + 4):
            exif = memoryview(data)[at + 10:end]  # Pillow reads the first EXIF block only
            check_exif(exif)
        elif marker == 0xE2 and data.startswith(b"MPF\0", at + 4):
            check_exif(memoryview(data)[at + 8:end], "its multi-picture index (MPF)")
        elif marker == 0xDA:
            scans += 1
            count(scans, MAX_SCANS, "scans in the JPEG")
            first_scan = first_scan or (data[at + 4] if at + 4 < len(data) else 0)
            if _single_scan(frame, first_scan):
                break  # libjpeg refuses a second scan after one that holds every component
            scan_end = _END_OF_SCAN.search(data, end)
            end = scan_end.start() if scan_end else len(data)
        at = end
    return _frame_header(frame, first_scan)


def _items(data: bytes, marker: int, start: int, end: int) -> int:
    """Count what Pillow reads one by one in Python inside a segment: a frame header's
    components (3 bytes each), quantization tables (65 or 129 bytes) and Photoshop's image
    resources (each starts "8BIM")."""
    if marker in _FRAMES:
        return max(0, end - start - 6) // 3
    if marker == 0xDB:
        return (end - start) // 65
    if marker == 0xED and data.startswith(b"Photoshop 3.0\0", start):
        return data.count(b"8BIM", start, end)
    return 0


def _single_scan(frame: tuple[int, bytes] | None, first_scan: int) -> bool:
    """Tell whether a sequential frame's first scan holds all its components (or is unseen:
    libjpeg then fails before it decodes anything)."""
    return (frame is not None and frame[0] in _SEQUENTIAL and len(frame[1]) >= 6
            and (first_scan == 0 or first_scan >= frame[1][5]))


def _frame_header(frame: tuple[int, bytes] | None, first_scan: int) -> Header:
    """Read the size and components from a frame header (SOFn), after its scans are counted."""
    if frame is None or len(frame[1]) < 6:
        return Header("JPEG", 0, 0)  # Pillow says what is wrong
    marker, body = frame
    if marker in _REFUSED:
        raise NotAnImageError(f"The JPEG is {_REFUSED[marker]}-coded (SOF{marker - 0xC0}), "
                              f"which is not accepted; send a baseline or progressive JPEG, "
                              f"or a PNG.")
    height, width, components = (int.from_bytes(body[1:3], "big"),
                                 int.from_bytes(body[3:5], "big"), body[5])
    if marker in _SEQUENTIAL and _single_scan(frame, first_scan):
        return Header("JPEG", width, height)  # one scan: decoded at the output's scale
    factors = [(body[at] >> 4, body[at] & 15) for at in range(7, len(body), 3)][:components]
    how = "progressive" if marker in _PROGRESSIVE else "multi-scan"
    return Header("JPEG", width, height, _samples(width, height, factors),
                  f"a {how} JPEG with {components} colour component(s)")


def _samples(width: int, height: int, factors: list[tuple[int, int]]) -> int:
    """Count the coefficients of a whole-image buffer: each component's blocks, MCU-padded."""
    widest = max((h for h, _ in factors), default=1) or 1
    tallest = max((v for _, v in factors), default=1) or 1
    columns, rows = -(-width // (8 * widest)), -(-height // (8 * tallest))
    return sum(columns * h * rows * v * 64 for h, v in factors)
