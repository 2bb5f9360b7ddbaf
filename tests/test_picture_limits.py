"""The decoding budget on POST /predict/image: hostile files refused fast, real pictures kept.

Each hostile file here is a smaller cousin of a red team's (tests/hostile_costs.py measures
the full-size ones); each must get its JSON 4xx within a CPU second and 100 MB of memory.
"""

from __future__ import annotations

import io
import resource
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from flask.testing import FlaskClient
from PIL import Image

from app.inference.pictures import imaging
from app.inference.pictures.errors import BlankImageError
from app.inference.pictures.errors import ImageTooLargeError
from tests import hostile_pictures as hp
from tests.pictures import encode
from tests.pictures import enlarge
from tests.pictures import heldout_uint8
from tests.test_predict import assert_error

URL = "/predict/image"
LIMIT = 4 * 1024 * 1024
TINY_PNG = encode(Image.new("L", (64, 64)), "PNG")
TINY_GIF = encode(Image.new("L", (64, 64)), "GIF")
TINY_JPEG = encode(Image.new("L", (64, 64)), "JPEG")
SCANS, BLOCKS = "over 32 scans in the JPEG", "over 4,096"

# name: (the file, its status, a fragment of the message naming the limit).
HOSTILE: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "progressive grey, 36 M samples": (lambda: hp.progressive_jpeg(6000, 6000), 413,
                                       "a progressive JPEG with 1 colour component(s): decoding "
                                       "it holds all 36,000,000 samples at full size, over the "
                                       "limit of 33,554,432 (8 x MAX_IMAGE_PIXELS)"),
    "progressive RGB 4:4:4, 34.7 M samples": (
        lambda: hp.progressive_jpeg(3400, 3400, "RGB", subsampling=0), 413,
        "with 3 colour component(s): decoding it holds all 34,680,000 samples"),
    "multi-scan baseline, 36 M samples": (lambda: hp.multi_scan_jpeg(4000, 3000), 413,
                                          "a multi-scan JPEG with 3 colour component(s)"),
    "progressive, past Pillow's limit": (lambda: hp.progressive_jpeg(9500, 9500), 413,
                                         "over the limit of 89,478,485 for any picture"),
    "a scan repeated 2,000 times": (
        lambda: hp.repeat_scan(hp.progressive_jpeg(2000, 2000), 2000), 422, SCANS),
    "a scan repeated 27 times": (lambda: hp.repeat_scan(hp.progressive_jpeg(64, 64), 27), 422,
                                 SCANS),
    "RLE8 BMP, one row of 4 Mpx (1,084 bytes)": (hp.rle_row_flood, 413,
                                                 "over the limit of 262,144 for RLE"),
    "RLE4 BMP, 1000x1000": (lambda: hp.rle_bmp(1000, 1000, b"\x00\x01", bits=4), 413,
                            "1000x1000 = 1,000,000 pixels, over the limit of 262,144 for RLE"),
    "PNG, 300,000 empty chunks": (lambda: hp.png_with_chunks(TINY_PNG, 300_000), 422,
                                  f"{BLOCKS} chunks in the PNG"),
    "PNG, 1-byte IDAT chunks": (lambda: hp.png_split_idat(hp.png_noise(100)), 422,
                                f"{BLOCKS} chunks in the PNG"),
    "PNG, 9 zTXt chunks": (lambda: hp.png_with_chunks(TINY_PNG, 9, b"zTXt", b"k\0\0x\x9c\x03\0"),
                           422, "over 8 compressed text or colour-profile chunks"),
    "PNG, eXIf of 65,535 entries": (
        lambda: hp.png_with_chunks(TINY_PNG, 1, b"eXIf", hp.exif_block(65_535)), 422,
        "over 256 entries in its EXIF block's first directory"),
    "JPEG, EXIF of 5,000 entries": (
        lambda: hp.jpeg_with_exif(hp.progressive_jpeg(64, 64), hp.exif_block(5000)), 422,
        "over 256 entries in its EXIF block's first directory"),
    "GIF, 800,000 comments": (lambda: hp.gif_with_comments(TINY_GIF, 800_000), 422,
                              f"{BLOCKS} blocks and stray bytes before the GIF's first image"),
    "GIF, 4 MB of stray bytes": (lambda: hp.gif_with_stray_bytes(TINY_GIF, 4_000_000), 422,
                                 f"{BLOCKS} blocks and stray bytes before the GIF's first"),
    "JPEG, 60 segments of 1,000 quantization tables": (
        lambda: hp.jpeg_with_segment(TINY_JPEG, 0xDB, hp.quantization_tables(1000), 60), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG (a frame header's component, a "
        "quantization table"),
    "JPEG, 60 segments of 5,000 Photoshop resources": (
        lambda: hp.jpeg_with_segment(TINY_JPEG, 0xED, hp.photoshop_resources(5000), 60), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG"),
    "JPEG, 60 frame headers of 21,000 components": (
        lambda: hp.jpeg_with_segment(TINY_JPEG, 0xC0, hp.frame_components(21_000), 60), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG (a frame header's component"),
    "JPEG, 60 JPG0 markers before 65,000 stray bytes each": (
        lambda: hp.jpeg_with_segment(TINY_JPEG, 0xF0, b"\x01" * 65_000, 60), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG"),
    "JPEG, a multi-picture index of 5,000 entries": (
        lambda: hp.jpeg_with_segment(TINY_JPEG, 0xE2, b"MPF\0" + hp.exif_block(5000)), 422,
        "over 256 entries in its multi-picture index (MPF)"),
    "GIF, first frame at 30000,30000": (lambda: hp.gif_frame_at(TINY_GIF, 30000, 30000), 413,
                                        "30064x30064 = 903,844,096 pixels"),
    "JPEG, 1,000,000 comment segments": (
        lambda: hp.padded_jpeg(hp.progressive_jpeg(64, 64), segments=1_000_000), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG"),
    "JPEG, 4 MB of stray bytes": (
        lambda: hp.padded_jpeg(hp.progressive_jpeg(64, 64), junk=4_000_000), 422,
        f"{BLOCKS} segments and stray bytes in the JPEG"),
    "JPEG, lossless": (lambda: hp.with_frame_marker(encode(Image.new("L", (8, 8)), "JPEG"),
                                                    0xC3), 415, "lossless-coded (SOF3)"),
    "WebP, 500,000 chunks": (lambda: hp.webp_with_chunks(500_000), 422,
                             f"{BLOCKS} chunks in the WebP"),
    "WebP, a 16384x16384 canvas": (lambda: hp.webp_canvas(16384, 16384), 413,
                                   "16384x16384 = 268,435,456 pixels"),
}


def peak_kb() -> int:
    """Return the process's peak resident memory since it was last reset, in KB (Linux)."""
    text = Path("/proc/self/status").read_text()
    return int(text.split("VmHWM:")[1].split()[0])


def cpu_s() -> float:
    """Return the CPU time this process has used, user and system, in seconds."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_hostile_file_is_refused_fast_naming_its_limit(
        client: FlaskClient, case: tuple[Callable[[], bytes], int, str]) -> None:
    make, status, fragment = case
    data = make()
    Path("/proc/self/clear_refs").write_text("5")
    rss, started = peak_kb(), cpu_s()
    response = client.post(URL, data=data, content_type="application/octet-stream")
    spent, grown = cpu_s() - started, (peak_kb() - rss) / 1024
    assert fragment in assert_error(response, status)["message"]
    assert spent < 1.0 and grown < 100, f"{spent:.2f} s of CPU, +{grown:.0f} MB"


@pytest.fixture(scope="module")
def nine() -> npt.NDArray[np.uint8]:
    """Return the first held-out digit (a 9), 28x28 uint8, white on black."""
    digits, labels = heldout_uint8()
    assert labels[0] == 9
    return digits[0].reshape(28, 28)


def photo(nine: npt.NDArray[np.uint8], width: int, height: int) -> Image.Image:
    """Return a grey photo of paper with the nine written large in its middle."""
    paper = np.full((height, width), 220, np.uint8)
    side = height // 3
    top, left = (height - side) // 2, (width - side) // 2
    paper[top:top + side, left:left + side] -= np.uint8(enlarge(nine, side) * 180)
    return Image.fromarray(paper)


@pytest.mark.parametrize(("size", "mode", "options"), [
    ((5456, 4092), "RGB", {}),  # 22.3 megapixels, 4:2:0: 33.5 M samples, just in
    ((3264, 2448), "RGB", {"subsampling": 0}),  # 8 megapixels, 4:4:4
    ((5792, 5792), "L", {}),  # 33.5 megapixels of grey
])
def test_the_largest_progressive_photos_still_pass(client: FlaskClient, nine: npt.NDArray[np.uint8],
                                                   size: tuple[int, int], mode: str,
                                                   options: dict[str, object]) -> None:
    data = encode(photo(nine, *size).convert(mode), "JPEG", progressive=True, quality=85,
                  **options)
    Path("/proc/self/clear_refs").write_text("5")
    rss, started = peak_kb(), cpu_s()
    answer = client.post(URL, data=data, content_type="image/jpeg").get_json()
    spent, grown = cpu_s() - started, (peak_kb() - rss) / 1024
    assert answer.get("prediction") == 9, answer
    assert spent < 1.0 and grown < 100, f"{spent:.2f} s of CPU, +{grown:.0f} MB"


def test_a_20_megapixel_photo_is_decoded_at_a_quarter_scale(
        nine: npt.NDArray[np.uint8]) -> None:
    # 5184x3888: its shorter side is under 4 x 1024, its longer over; 1/4 still covers 1024.
    data = encode(photo(nine, 5184, 3888), "JPEG", quality=85)
    frame = imaging.to_input(data, max_pixels=LIMIT)[0, 0]
    reference = imaging.to_input(encode(Image.fromarray(255 - nine), "PNG"), max_pixels=LIMIT)
    assert np.abs(frame - reference[0, 0]).mean() < 0.05


def test_small_multi_scan_and_rle_files_still_decode(nine: npt.NDArray[np.uint8]) -> None:
    with pytest.raises(BlankImageError):  # decoded: it is flat grey
        imaging.to_input(hp.multi_scan_jpeg(640, 480), max_pixels=LIMIT)
    page = np.asarray(photo(nine, 512, 512))
    rle = hp.rle_bmp(512, 512, hp.rle8(page))
    reference = imaging.to_input(encode(Image.fromarray(page), "PNG"), max_pixels=LIMIT)
    np.testing.assert_allclose(imaging.to_input(rle, max_pixels=LIMIT), reference, atol=1e-6)


def test_everyday_metadata_is_fine(nine: npt.NDArray[np.uint8]) -> None:
    png = encode(Image.fromarray(255 - nine), "PNG")
    busy = hp.png_with_chunks(png, 40, b"tEXt", b"Comment\0written by a scanner")
    commented = hp.gif_with_comments(encode(Image.fromarray(255 - nine), "GIF"), 3, b"hello")
    reference = imaging.to_input(png, max_pixels=LIMIT)
    for data in (busy, commented):
        np.testing.assert_allclose(imaging.to_input(data, max_pixels=LIMIT), reference,
                                   atol=1e-6)


def test_decoding_is_stopped_once_its_cpu_time_is_spent() -> None:
    noise = hp.png_noise(1500)
    with pytest.raises(ImageTooLargeError, match=r"Decoding the PNG image was stopped after "
                                                 r"0.001 s of CPU time"):
        imaging.to_input(noise, max_pixels=LIMIT, cpu_seconds=0.001)
    with pytest.raises(BlankImageError):  # decoded in full within the default budget
        imaging.to_input(noise, max_pixels=LIMIT)


def test_pillows_warnings_about_a_file_are_not_errors(nine: npt.NDArray[np.uint8]) -> None:
    # An EXIF entry pointing past its block: Pillow warns "Possibly corrupt EXIF data".
    broken = hp.exif_block(1)[:-4].replace(b"\x03\x00\x01\x00\x00\x00", b"\x02\x00\xff\x00\x00\x00")
    data = hp.jpeg_with_exif(encode(Image.fromarray(255 - nine), "JPEG", quality=95), broken)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as pytest runs; a server only logs them
        assert imaging.to_input(data, max_pixels=LIMIT).shape == (1, 1, 28, 28)


def test_pillows_bomb_limit_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # even where its warning would be ignored
        with pytest.raises(ImageTooLargeError, match="over the limit of 1,000 for any picture"):
            imaging.to_input(encode(Image.new("L", (40, 40)), "PNG"), max_pixels=LIMIT)


def test_a_form_upload_is_refused_as_a_raw_body_is(client: FlaskClient) -> None:
    data = hp.rle_row_flood()
    response = client.post(URL, content_type="multipart/form-data",
                           data={"image": (io.BytesIO(data), "digit.bmp")})
    assert "for RLE" in assert_error(response, 413)["message"]
