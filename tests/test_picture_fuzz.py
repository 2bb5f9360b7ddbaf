"""Generated hostile pictures: whatever their shape, a JSON answer within a CPU second.

hypothesis builds the red team's shapes with random sizes and counts (progressive and
multi-scan JPEGs with repeated scans, RLE BMPs, floods of PNG chunks, GIF blocks, JPEG
segments, WebP chunks, long EXIF directories), some with random bytes overwritten. Each is
sent to POST /predict/image: it is answered (200 or a JSON 4xx), within a second of CPU, and
refused exactly when a count passes its limit.
"""

from __future__ import annotations

import io
import resource
from collections.abc import Callable
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image

from app.inference.pictures.layout import MAX_BLOCKS
from app.inference.pictures.layout import MAX_EXIF_ENTRIES
from app.inference.pictures.layout import MAX_SCANS
from tests import hostile_pictures as hp
from tests.pictures import encode
from tests.test_hostile_images import mutate
from tests.test_hostile_images import nine
from tests.test_properties import RELAXED
from tests.test_properties import assert_answer

URL = "/predict/image"
FEW = settings(RELAXED, max_examples=40)
NINE_PNG, NINE_GIF = nine("PNG"), nine("GIF")
NINE_JPEG = encode(Image.open(io.BytesIO(NINE_PNG)).convert("L"), "JPEG", progressive=True)


def answer(client: FlaskClient, data: bytes) -> Any:
    """Send data as a picture; check it is answered within a CPU second; return the body."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    response = client.post(URL, data=data, content_type="application/octet-stream")
    done = resource.getrusage(resource.RUSAGE_SELF)
    spent = done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime
    assert_answer(response)
    assert spent < 1.0, f"{spent:.2f} s of CPU for {len(data):,} bytes"
    return response.status_code, response.get_json()


def refused_for(body: Any, what: str) -> bool:
    """Tell whether the answer is the 422 for too many of `what`."""
    return body.get("code") == 422 and what in body.get("message", "")


def around(limit: int) -> st.SearchStrategy[int]:
    """Counts from 0 to past the limit, and often right at it (hypothesis favours small ones)."""
    return st.integers(0, limit + limit // 8) | st.integers(limit - 8, limit + 8)


sizes = st.integers(1, 400)
edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6)


@FEW
@given(width=sizes, height=sizes, mode=st.sampled_from(["L", "RGB", "CMYK"]),
       subsampling=st.integers(0, 2), repeats=around(MAX_SCANS - 6))
def test_progressive_jpegs_with_repeated_scans(client: FlaskClient, width: int, height: int,
                                               mode: str, subsampling: int,
                                               repeats: int) -> None:
    jpeg = hp.progressive_jpeg(width, height, mode, subsampling=subsampling)
    scans = sum(marker == 0xDA for marker, _, _ in hp.jpeg_segments(jpeg))
    status, body = answer(client, hp.repeat_scan(jpeg, repeats))
    assert refused_for(body, "scans in the JPEG") == (scans + repeats > MAX_SCANS), body


@FEW
@given(width=st.integers(1, 6000), height=st.integers(1, 6000), edit=edits)
def test_multi_scan_jpegs(client: FlaskClient, width: int, height: int,
                          edit: list[tuple[int, int]]) -> None:
    status, body = answer(client, mutate(hp.multi_scan_jpeg(width, height), edit, None))
    if not edit:
        held = 3 * 64 * -(-width // 8) * -(-height // 8)
        assert (body.get("code") == 413) == (held > 8 * 4 * 1024 * 1024), body


@FEW
@given(width=st.integers(1, 5000), height=st.integers(1, 600), bits=st.sampled_from([4, 8]),
       stream=st.binary(max_size=3000))
def test_rle_bmps(client: FlaskClient, width: int, height: int, bits: int,
                  stream: bytes) -> None:
    status, body = answer(client, hp.rle_bmp(width, height, stream, bits=bits))
    if width * height > 512 * 512:
        assert body["code"] == 413 and "for RLE" in body["message"], body


chunk_kinds = st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"prVt", b"IDAT", b"eXIf"])


@FEW
@given(count=around(MAX_BLOCKS - 3), kind=chunk_kinds,
       body=st.binary(max_size=40))
def test_png_chunk_floods(client: FlaskClient, count: int, kind: bytes, body: bytes) -> None:
    status, answer_body = answer(client, hp.png_with_chunks(NINE_PNG, count, kind, body))
    if count + 3 > MAX_BLOCKS:  # and IHDR, IDAT, IEND
        assert answer_body["code"] == 422, answer_body  # too many, or too many inflated


@FEW
@given(count=around(MAX_BLOCKS // 2), block=st.binary(min_size=1, max_size=255),
       stray=st.integers(0, 100))
def test_gif_comment_floods(client: FlaskClient, count: int, block: bytes, stray: int) -> None:
    gif = hp.gif_with_stray_bytes(hp.gif_with_comments(NINE_GIF, count, block), stray)
    status, body = answer(client, gif)
    if 2 * count + stray > MAX_BLOCKS:  # a comment: its block and the empty one that ends it
        assert refused_for(body, "blocks and stray bytes before the GIF's first image"), body
    elif 2 * count + stray + 20 < MAX_BLOCKS:  # with the picture's own
        assert status == 200, body


@FEW
@given(segments=around(MAX_BLOCKS), junk=st.integers(0, 100) | around(MAX_BLOCKS))
def test_jpeg_segments_and_stray_bytes(client: FlaskClient, segments: int, junk: int) -> None:
    status, body = answer(client, hp.padded_jpeg(NINE_JPEG, segments, junk))
    if segments + junk > MAX_BLOCKS:
        assert refused_for(body, "segments and stray bytes"), body
    elif segments + junk + 40 < MAX_BLOCKS:  # with the picture's own
        assert status == 200, body


@FEW
@given(segments=st.integers(3040, 3120),
       inside=st.sampled_from([(0xDB, hp.quantization_tables), (0xED, hp.photoshop_resources)]),
       items=st.integers(0, 60) | st.integers(990, 1008))  # 1008 tables fill 64 KB
def test_jpeg_tables_and_resources_count_as_segments(
        client: FlaskClient, segments: int, inside: tuple[int, Callable[[int], bytes]],
        items: int) -> None:
    marker, body_of = inside  # one segment of `items` tables or resources, each read in Python
    jpeg = hp.jpeg_with_segment(hp.padded_jpeg(NINE_JPEG, segments), marker, body_of(items))
    status, body = answer(client, jpeg)
    if segments + items > MAX_BLOCKS:
        assert refused_for(body, "segments and stray bytes"), body
    elif segments + items + 40 < MAX_BLOCKS:  # with the picture's own
        assert status == 200, body


@FEW
@given(count=around(MAX_BLOCKS - 2))
def test_webp_chunk_floods(client: FlaskClient, count: int) -> None:
    status, body = answer(client, hp.webp_with_chunks(count))
    assert refused_for(body, "chunks in the WebP") == (count + 2 > MAX_BLOCKS), body


exif_holders: dict[str, Callable[[bytes], bytes]] = {
    "JPEG": lambda exif: hp.jpeg_with_exif(NINE_JPEG, exif),
    "PNG": lambda exif: hp.png_with_chunks(NINE_PNG, 1, b"eXIf", exif),
}


@FEW
@given(entries=around(MAX_EXIF_ENTRIES) | st.integers(0, 5000),
       holder=st.sampled_from(list(exif_holders)),
       edit=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), max_size=3))
def test_long_exif_directories(client: FlaskClient, entries: int, holder: str,
                               edit: list[tuple[int, int]]) -> None:
    exif = mutate(hp.exif_block(entries), edit, None) if entries else b""
    status, body = answer(client, exif_holders[holder](exif))
    if entries > MAX_EXIF_ENTRIES and not edit:
        assert refused_for(body, "entries in its EXIF"), body
    elif entries <= MAX_EXIF_ENTRIES and not edit:
        assert status == 200, body


hostile = st.one_of(
    st.builds(lambda n: hp.repeat_scan(hp.progressive_jpeg(64, 48, "RGB"), n), st.integers(0, 40)),
    st.builds(lambda n: hp.png_split_idat(NINE_PNG, n), st.integers(1, 64)),
    st.builds(lambda w: hp.rle_bmp(w, 64, np.arange(256, dtype=np.uint8).tobytes()),
              st.integers(1, 4096)),
    st.builds(lambda n: hp.gif_with_comments(NINE_GIF, n, b"hi"), st.integers(0, 64)),
)


@FEW
@given(data=hostile, edit=edits, cut=st.none() | st.integers(0, 4000))
def test_mutated_hostile_shapes_are_answered(client: FlaskClient, data: bytes,
                                             edit: list[tuple[int, int]],
                                             cut: int | None) -> None:
    answer(client, mutate(data, edit, cut))
