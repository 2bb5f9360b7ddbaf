"""Hostile picture files, built byte by byte: small to send, slow or large to decode.

Each maker returns a real file of its format, in the shapes a red team used: progressive and
multi-scan JPEGs, a scan repeated, RLE-compressed BMPs, floods of PNG chunks, GIF comment
blocks, JPEG segments and stray bytes, WebP chunks, long EXIF directories. tests/hostile_costs.py
measures what each costs a worker at full size.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.pictures import encode

_RST_OR_STUFFING = {0x00, 0xFF, *range(0xD0, 0xD8)}


def progressive_jpeg(width: int, height: int, mode: str = "L", **options: object) -> bytes:
    """Return a flat mid-grey progressive JPEG: a few KB per megapixel (its AC scans are empty)."""
    return encode(Image.new(mode, (width, height), 128 if mode == "L" else None),
                  "JPEG", progressive=True, **options)


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """Split a JPEG into (marker, start, end) segments; a scan's entropy-coded data is its own."""
    found, at = [], 2
    while at + 1 < len(data):
        marker = data[at + 1]
        if marker == 0xD9:
            found.append((marker, at, at + 2))
            break
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xDA:  # the scan runs to the next marker that is not RSTn or stuffing
            end = data.index(b"\xff", end)
            while data[end + 1] in _RST_OR_STUFFING:
                end = data.index(b"\xff", end + 2 if data[end + 1] != 0xFF else end + 1)
        found.append((marker, at, end))
        at = end
    return found


def repeat_scan(jpeg: bytes, times: int) -> bytes:
    """Repeat the first AC scan (with the Huffman tables before it) times more."""
    segments = jpeg_segments(jpeg)
    for index, (marker, start, end) in enumerate(segments):
        if marker == 0xDA and jpeg[start + 4 + 2 * jpeg[start + 4] + 1] > 0:  # Ss > 0
            tables = segments[index - 1][1] if segments[index - 1][0] == 0xC4 else start
            return jpeg[:end] + jpeg[tables:end] * times + jpeg[end:]
    raise ValueError("no AC scan: not a progressive JPEG")


def multi_scan_jpeg(width: int, height: int) -> bytes:
    """Return a baseline JPEG whose three components come in three scans (non-interleaved):
    libjpeg holds every coefficient until the last scan, as for a progressive one."""
    grey = encode(Image.new("L", (width, height), 128), "JPEG", quality=90)
    segments = {marker: grey[start:end] for marker, start, end in jpeg_segments(grey)}
    tables = b"".join(grey[start:end] for marker, start, end in jpeg_segments(grey)
                      if marker in (0xDB, 0xC4))
    frame = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + b"".join(
        bytes((component, 0x11, 0)) for component in (1, 2, 3))
    scan = segments[0xDA]
    data = scan[2 + int.from_bytes(scan[2:4], "big"):]
    scans = b"".join(b"\xff\xda\x00\x08\x01" + bytes((component, 0)) + b"\x00\x3f\x00" + data
                     for component in (1, 2, 3))
    return b"\xff\xd8" + tables + frame + scans + b"\xff\xd9"


def padded_jpeg(jpeg: bytes, segments: int = 0, junk: int = 0) -> bytes:
    """Put `segments` empty comment segments, then `junk` stray bytes, after the first segment."""
    first = jpeg_segments(jpeg)[0][2]
    return jpeg[:first] + b"\xff\xfe\x00\x02" * segments + b"\x01" * junk + jpeg[first:]


def rle_bmp(width: int, height: int, stream: bytes, *, bits: int = 8) -> bytes:
    """Return an RLE8 (bits=8) or RLE4 (bits=4) BMP with a grey palette and this RLE stream."""
    colours = 1 << bits
    palette = b"".join(bytes((level, level, level, 0))
                       for level in range(0, 256, 256 // colours))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 1 if bits == 8 else 2,
                       len(stream), 2835, 2835, colours, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(stream), 0, 0, offset)
    return head + info + palette + stream


def rle_row_flood(width: int = 4 * 1024 * 1024) -> bytes:
    """One pixel, then end-of-line: Pillow pads the row in Python, a pixel at a time."""
    return rle_bmp(width, 1, b"\x01\x01" + b"\x00\x00" + b"\x00\x01")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """Return one PNG chunk: length, type, body, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_chunks(png: bytes, count: int, kind: bytes = b"prVt", body: bytes = b"") -> bytes:
    """Put count chunks of this kind right after the IHDR chunk (33 bytes into the file)."""
    return png[:33] + png_chunk(kind, body) * count + png[33:]


def png_split_idat(png: bytes, size: int = 1) -> bytes:
    """Re-cut the image data into IDAT chunks of `size` bytes each."""
    at, chunks, data = 8, [], b""
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        if kind == b"IDAT":
            data += body
        else:
            if kind == b"IEND":
                chunks += [png_chunk(b"IDAT", data[i:i + size]) for i in range(0, len(data), size)]
            chunks.append(png_chunk(kind, body))
        at += 12 + length
    return png[:8] + b"".join(chunks)


def gif_with_comments(gif: bytes, count: int, block: bytes = b"x") -> bytes:
    """Put count comment extensions, each one sub-block of `block`, before the first image."""
    palette = 3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0
    start = 13 + palette
    comment = b"\x21\xfe" + bytes((len(block),)) + block + b"\x00"
    return gif[:start] + comment * count + gif[start:]


def webp_with_chunks(count: int, kind: bytes = b"XYZW") -> bytes:
    """Return an extended (VP8X) WebP of a small grey square followed by count empty chunks."""
    simple = encode(Image.new("L", (16, 16), 128).convert("RGB"), "WEBP", lossless=True)
    image = simple[12:]  # the VP8L chunk
    header = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (15).to_bytes(3, "little") * 2
    body = b"WEBP" + header + image + (kind + b"\x00\x00\x00\x00") * count
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_with_stray_bytes(gif: bytes, count: int) -> bytes:
    """Put count stray bytes (Pillow skips them one at a time) before the first image."""
    palette = 3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0
    return gif[:13 + palette] + b"\x00" * count + gif[13 + palette:]


def webp_canvas(width: int, height: int) -> bytes:
    """Return the extended WebP above whose header claims a canvas of width x height."""
    data = bytearray(webp_with_chunks(0))
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def gif_frame_at(gif: bytes, left: int, top: int) -> bytes:
    """Move the first image of a GIF (with no extensions before it) to left, top."""
    palette = 3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0
    at = gif.index(b",", 13 + palette)
    return gif[:at + 1] + struct.pack("<HH", left, top) + gif[at + 5:]


def exif_block(entries: int) -> bytes:
    """Return EXIF (a little-endian TIFF) whose first directory has this many SHORT entries."""
    directory = b"".join(struct.pack("<HHIHH", 0x100 + index % 0xFE00, 3, 1, 7, 0)
                         for index in range(entries))
    return b"II*\x00" + struct.pack("<IH", 8, entries) + directory + b"\x00" * 4


def jpeg_with_segment(jpeg: bytes, marker: int, body: bytes, count: int = 1) -> bytes:
    """Put count segments of this marker and body (at most 64 KB) right after the SOI marker."""
    segment = bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment * count + jpeg[2:]


def jpeg_with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """Put an APP1 EXIF segment (at most 64 KB) right after the SOI marker."""
    return jpeg_with_segment(jpeg, 0xE1, b"Exif\x00\x00" + exif)


def quantization_tables(count: int) -> bytes:
    """Return the body of a DQT segment of count 8-bit tables (Pillow reads each in Python)."""
    return (b"\x00" + bytes(range(1, 65))) * count


def frame_components(count: int) -> bytes:
    """Return the body of a 64x64 grey frame header (SOF0) followed by count more components."""
    return b"\x08\x00\x40\x00\x40\x01" + b"\x01\x11\x00" * (1 + count)


def photoshop_resources(count: int) -> bytes:
    """Return the body of an APP13 segment of count empty Photoshop image resources."""
    return b"Photoshop 3.0\x00" + (b"8BIM\x04\x04\x00\x00" + b"\x00" * 4) * count


def with_frame_marker(jpeg: bytes, marker: int) -> bytes:
    """Return the JPEG with its frame header (SOF0) relabelled, e.g. 0xC3 for lossless."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[:at + 1] + bytes((marker,)) + jpeg[at + 2:]


def rle8(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Encode rows of 8-bit pixels (top row first) as a BMP's RLE8 stream, bottom row first."""
    stream = bytearray()
    for row in pixels[::-1]:
        start = 0
        while start < len(row):
            run = 1
            while start + run < len(row) and run < 255 and row[start + run] == row[start]:
                run += 1
            stream += bytes((run, row[start]))
            start += run
        stream += b"\x00\x00"  # end of line
    return bytes(stream + b"\x00\x01")  # end of bitmap


def png_noise(side: int = 1000) -> bytes:
    """Return a side x side PNG of grey noise (it does not compress: about side^2 bytes)."""
    pixels = np.random.default_rng(1).integers(0, 256, (side, side), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG")
