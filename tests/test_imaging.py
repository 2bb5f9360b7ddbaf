"""The imaging module alone: picture files in, the model's 28x28 input out, MNIST's way."""

from __future__ import annotations

import io
import time

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from app.inference.pictures import imaging
from app.inference.pictures.errors import BlankImageError
from app.inference.pictures.errors import BrokenImageError
from app.inference.pictures.errors import ImageTooLargeError
from app.inference.pictures.errors import NotAnImageError
from tests.pictures import encode
from tests.pictures import enlarge
from tests.pictures import heldout_uint8

LIMIT = 4 * 1024 * 1024  # the default MAX_IMAGE_PIXELS
Frame = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def nine() -> npt.NDArray[np.uint8]:
    """Return the first held-out digit (a 9), 28x28 uint8, white on black."""
    digits, labels = heldout_uint8()
    assert labels[0] == 9
    return digits[0].reshape(28, 28)


def seen(data: bytes) -> Frame:
    """Return the 28x28 the model would see for a file."""
    batch = imaging.to_input(data, max_pixels=LIMIT)
    assert batch.shape == (1, 1, 28, 28) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    return batch[0, 0]


def dark_on_white(ink: npt.NDArray[np.float64], fmt: str = "PNG", **options: object) -> bytes:
    """Encode an ink map (1 = ink) as black on white."""
    return encode(Image.fromarray(np.uint8((1.0 - ink) * 255 + 0.5)), fmt, **options)


def ink_box(frame: Frame) -> tuple[int, int]:
    """Return the height and width of the box around the frame's ink."""
    rows, cols = np.flatnonzero(frame.any(axis=1)), np.flatnonzero(frame.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(frame: Frame) -> tuple[float, float]:
    mass = frame.sum()
    return (float(frame.sum(axis=1) @ np.arange(28) / mass),
            float(frame.sum(axis=0) @ np.arange(28) / mass))


def test_an_mnist_digit_comes_back_nearly_as_it_was(nine: npt.NDArray[np.uint8]) -> None:
    frame = seen(encode(Image.fromarray(nine), "PNG"))
    assert np.abs(frame - nine / 255.0).mean() < 0.05


def test_dark_ink_on_light_paper_is_inverted(nine: npt.NDArray[np.uint8]) -> None:
    light_on_dark = seen(encode(Image.fromarray(nine), "PNG"))
    dark_on_light = seen(encode(Image.fromarray(255 - nine), "PNG"))
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=1e-5)


def test_transparency_is_flattened_onto_white_paper(nine: npt.NDArray[np.uint8]) -> None:
    strokes = Image.new("RGBA", (28, 28), (0, 0, 0, 0))
    strokes.putalpha(Image.fromarray(nine))
    on_paper = seen(encode(Image.fromarray(255 - nine), "PNG"))
    np.testing.assert_allclose(seen(encode(strokes, "PNG")), on_paper, atol=1 / 255)


def test_the_digit_is_cropped_scaled_to_20_px_and_centred_by_mass() -> None:
    # A filled 60x150 bar in a corner of a 400x300 page: 20 px tall, 8 wide, mass at 14.
    ink = np.zeros((300, 400))
    ink[10:160, 300:360] = 1.0
    frame = seen(dark_on_white(ink))
    assert ink_box(frame) == (20, 8)
    assert centre_of_mass(frame) == pytest.approx((14.0, 14.0), abs=0.5)


def test_a_small_digit_is_enlarged_to_20_px(nine: npt.NDArray[np.uint8]) -> None:
    ink = np.zeros((500, 500))
    ink[400:428, 30:58] = nine / 255.0  # its box is 20 px or less
    height, width = ink_box(seen(dark_on_white(ink)) > 0.05)
    assert max(height, width) in (20, 21)


@pytest.mark.parametrize(("fmt", "options"), [
    ("PNG", {}), ("JPEG", {"quality": 90}), ("WEBP", {"quality": 90}), ("BMP", {}),
    ("GIF", {}),
])
def test_each_format_gives_the_same_digit(nine: npt.NDArray[np.uint8], fmt: str,
                                          options: dict[str, object]) -> None:
    picture = Image.fromarray(np.uint8(255 - enlarge(nine, 140) * 255 + 0.5)).convert("RGB")
    reference = seen(encode(picture, "PNG"))
    assert np.abs(seen(encode(picture, fmt, **options)) - reference).mean() < 0.03


def test_a_gif_is_read_from_its_first_frame(nine: npt.NDArray[np.uint8]) -> None:
    first, second = Image.fromarray(nine), Image.fromarray(np.rot90(nine).copy())
    animated = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    np.testing.assert_allclose(seen(animated), seen(encode(first, "PNG")), atol=1e-5)


def test_a_transparent_palette_gif(nine: npt.NDArray[np.uint8]) -> None:
    # Black strokes on the palette's transparent colour, which is white-less (index 0 = black).
    strokes = np.where(nine > 127, 1, 0).astype(np.uint8)
    picture = Image.fromarray(strokes, "P")
    picture.putpalette([0, 0, 0, 0, 0, 0])
    frame = seen(encode(picture, "GIF", transparency=0))
    assert frame.max() == 1.0 and ink_box(frame)[0] == 20


def test_a_phone_photo_is_turned_upright(nine: npt.NDArray[np.uint8]) -> None:
    upright = Image.fromarray(255 - nine).resize((112, 112))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; viewers rotate 90 degrees clockwise
    stored = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    assert np.abs(seen(stored) - seen(encode(upright, "PNG"))).mean() < 0.03


def test_16_bit_grey_is_not_clipped(nine: npt.NDArray[np.uint8]) -> None:
    deep = Image.fromarray(nine.astype(np.uint16) * 257)
    assert deep.mode.startswith("I;16")
    np.testing.assert_allclose(seen(encode(deep, "PNG")), seen(encode(Image.fromarray(nine),
                                                                        "PNG")), atol=1e-4)


def test_a_12_megapixel_photo_counts_as_the_jpeg_decodes_it(
        nine: npt.NDArray[np.uint8]) -> None:
    # A phone photo: 4000x3000 is over the 4-megapixel limit, but a JPEG is decoded at half
    # scale here (2000x1500), then reduced to 1024 px.
    ink = np.zeros((3000, 4000))
    ink[1000:1600, 1500:2100] = enlarge(nine, 600)
    started = time.perf_counter()
    frame = seen(dark_on_white(ink, "JPEG", quality=85))
    assert time.perf_counter() - started < 1.0
    assert np.abs(frame - seen(encode(Image.fromarray(nine), "PNG"))).mean() < 0.05
    with pytest.raises(ImageTooLargeError, match=r"4000x3000 = 12,000,000 pixels, over"):
        seen(dark_on_white(ink, "PNG"))  # decoded whole
    with pytest.raises(ImageTooLargeError, match=r"12,000,000 pixels \(3,000,000 at a JPEG's "
                                                 r"reduced scale\), over the limit of 2,000,000"):
        imaging.to_input(dark_on_white(ink, "JPEG"), max_pixels=2_000_000)


@pytest.mark.parametrize("data", [b"hello", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                  b"\x00" * 64, b""])
def test_what_is_not_a_picture(data: bytes) -> None:
    with pytest.raises(NotAnImageError, match="not a PNG, JPEG, WebP, BMP or GIF image"):
        imaging.to_input(data, max_pixels=LIMIT)


def test_formats_outside_the_list_are_not_read(nine: npt.NDArray[np.uint8]) -> None:
    for fmt in ("TIFF", "ICO", "PPM"):
        with pytest.raises(NotAnImageError):
            imaging.to_input(encode(Image.fromarray(nine), fmt), max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_a_truncated_file_is_broken(nine: npt.NDArray[np.uint8], fmt: str) -> None:
    noisy = np.random.default_rng(1).integers(0, 256, (200, 200), dtype=np.uint8)
    data = encode(Image.fromarray(noisy).convert("RGB"), fmt)
    with pytest.raises(BrokenImageError, match="could not be decoded|header is broken"):
        imaging.to_input(data[: len(data) // 2], max_pixels=LIMIT)


def test_too_many_pixels_are_refused_from_the_header() -> None:
    data = encode(Image.new("1", (5000, 4000)), "PNG")
    with pytest.raises(ImageTooLargeError, match=r"5000x4000 = 20,000,000 pixels, over the "
                                                 r"limit of 4,194,304 \(MAX_IMAGE_PIXELS\)"):
        imaging.to_input(data, max_pixels=LIMIT)
    with pytest.raises(ImageTooLargeError, match="over the limit of 100 "):
        imaging.to_input(encode(Image.new("L", (11, 10)), "PNG"), max_pixels=100)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_one_colour_is_blank(level: int) -> None:
    with pytest.raises(BlankImageError, match="no ink"):
        imaging.to_input(encode(Image.new("L", (100, 80), level), "PNG"), max_pixels=LIMIT)


def test_grainy_paper_without_ink_is_blank() -> None:
    grain = np.random.default_rng(2).normal(0.85, 0.03, (280, 280))
    with pytest.raises(BlankImageError, match="no ink"):
        imaging.to_input(dark_on_white(1.0 - np.clip(grain, 0, 1), "JPEG"), max_pixels=LIMIT)


def test_faint_ink_is_still_ink(nine: npt.NDArray[np.uint8]) -> None:
    # Pencil: strokes only 25% darker than the paper.
    frame = seen(dark_on_white(enlarge(nine, 140) * 0.25))
    assert np.abs(frame - seen(encode(Image.fromarray(nine), "PNG"))).mean() < 0.05
