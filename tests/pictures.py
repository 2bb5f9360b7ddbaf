"""Held-out digits as the picture files people send, in four styles, the same bytes every run.

`python -m tests.pictures` prints each style's accuracy through POST /predict/image (all
1,000 held-out digits, the Flask test client and the real model); `python -m tests.pictures
--examples examples/pictures` writes the example pictures (one digit in each style).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

Digit = npt.NDArray[np.uint8]  # one held-out digit, (28, 28), white on black, 0-255
Renderer = Callable[[Digit, np.random.Generator], bytes]
SEED = 20261201


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Return image saved in fmt (a Pillow format name) as bytes."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def enlarge(digit: Digit, side: int) -> npt.NDArray[np.float64]:
    """Scale the digit to side x side (bicubic, as a drawing would be smooth); ink in [0, 1]."""
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(big, np.float64) / 255.0


def paper_jpeg(digit: Digit, rng: np.random.Generator) -> bytes:
    """280x280 JPEG: dark ink on light paper with grain and uneven light, anywhere on it."""
    side = int(rng.integers(196, 281))
    ink = np.zeros((280, 280))
    top, left = rng.integers(0, 280 - side + 1, size=2)
    ink[top:top + side, left:left + side] = enlarge(digit, side)
    y, x = np.mgrid[0:280, 0:280] / 280.0
    paper = rng.uniform(0.78, 0.95) + 0.05 * (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1))
    pen = rng.uniform(0.05, 0.3)
    grey = paper - ink * (paper - pen) + rng.normal(0.0, 0.03, ink.shape)
    rgb = Image.fromarray(np.uint8(np.clip(grey, 0, 1) * 255 + 0.5)).convert("RGB")
    return encode(rgb, "JPEG", quality=int(rng.integers(70, 93)))


def transparent_png(digit: Digit, rng: np.random.Generator) -> bytes:
    """RGBA PNG, 112 to 280 px: black strokes, everything else fully transparent."""
    side = int(rng.integers(112, 281))
    alpha = Image.fromarray(np.uint8(enlarge(digit, side) * 255 + 0.5))
    strokes = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    strokes.putalpha(alpha)
    return encode(strokes, "PNG")


def small_off_centre(digit: Digit, rng: np.random.Generator) -> bytes:
    """PNG, 240-480 x 180-360 white canvas with a 40-84 px grey digit anywhere on it."""
    width, height = int(rng.integers(240, 481)), int(rng.integers(180, 361))
    side = int(rng.integers(40, 85))
    ink = np.zeros((height, width))
    top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
    ink[top:top + side, left:left + side] = enlarge(digit, side)
    return encode(Image.fromarray(np.uint8((1.0 - 0.9 * ink) * 255 + 0.5)), "PNG")


def plain_png(digit: Digit, rng: np.random.Generator) -> bytes:
    """The 28x28 greyscale PNG of the MNIST digit itself: white on black."""
    return encode(Image.fromarray(digit), "PNG")


STYLES: dict[str, Renderer] = {
    "paper_jpeg": paper_jpeg,
    "transparent_png": transparent_png,
    "small_off_centre": small_off_centre,
    "plain_png": plain_png,
}
CONTENT_TYPES = {"paper_jpeg": "image/jpeg", "transparent_png": "image/png",
                 "small_off_centre": "image/png", "plain_png": "image/png"}


def render(style: str, digits: npt.NDArray[np.uint8]) -> list[bytes]:
    """Render (N, 784) uint8 digits in a style; the same bytes on every run (seeded)."""
    rng = np.random.default_rng([SEED, list(STYLES).index(style)])
    return [STYLES[style](digit.reshape(28, 28), rng) for digit in digits]


def png_bomb(width: int, height: int) -> bytes:
    """Return a real 1-bit PNG of width x height white pixels: a few hundred KB for 40000^2."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter type 0, then the row's bits
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def heldout_uint8() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Return the held-out digits as stored, (N, 784) uint8, and their labels."""
    from tests.support import DATA_DIR

    with np.load(DATA_DIR / "heldout_digits.npz") as data:
        return data["images"], data["labels"]


EXAMPLES = {"paper_jpeg": ("paper.jpg", 1), "transparent_png": ("strokes.png", 2),
            "small_off_centre": ("small.png", 3), "plain_png": ("mnist.png", 4)}


def write_examples(folder: Path) -> None:
    """Write one held-out digit in each style (the README's examples/pictures)."""
    digits, _ = heldout_uint8()
    folder.mkdir(parents=True, exist_ok=True)
    for style, (name, index) in EXAMPLES.items():
        (folder / name).write_bytes(render(style, digits[index:index + 1])[0])


def main(argv: list[str]) -> int:
    """Print each style's accuracy through POST /predict/image over every held-out digit."""
    if argv[:1] == ["--examples"]:
        write_examples(Path(argv[1]))
        return 0
    from app import create_app

    client = create_app({"TESTING": True, "LOG_LEVEL": "WARNING"}).test_client()
    digits, labels = heldout_uint8()
    print(f"{'kind of file':18} {'accuracy':>8}  held-out digits right")
    total = 0
    for style in STYLES:
        right = 0
        for data, label in zip(render(style, digits), labels, strict=True):
            answer = client.post("/predict/image", data=data,
                                 content_type=CONTENT_TYPES[style]).get_json()
            right += answer.get("prediction") == label
        total += right
        print(f"{style:18} {right / len(labels):8.3f}  {right}/{len(labels)}")
    everything = len(labels) * len(STYLES)
    print(f"{'all':18} {total / everything:8.3f}  {total}/{everything}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
