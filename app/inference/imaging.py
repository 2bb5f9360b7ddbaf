"""Picture files -> the model's (1, 1, 28, 28) input, made as MNIST's were (Pillow, numpy)."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import BmpImagePlugin  # noqa: F401  (registers the format; no other plugin is loaded)
from PIL import GifImagePlugin  # noqa: F401
from PIL import Image
from PIL import ImageOps
from PIL import JpegImagePlugin  # noqa: F401
from PIL import PngImagePlugin  # noqa: F401
from PIL import UnidentifiedImageError
from PIL import WebPImagePlugin  # noqa: F401

# Only these decoders ever see a client's bytes (Pillow would otherwise try every format it
# knows, EPS through Ghostscript included).
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP or GIF"
# How each format's files start: a file that starts as one but fails is broken, not foreign.
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF",
               b"GIF89a": "GIF", b"BM": "BMP", b"RIFF": "WEBP"}
SIDE = 28  # the model's input is SIDE x SIDE
BOX = 20  # MNIST: the digit's longer side is scaled to 20 px...
CENTRE = 14.0  # ...and its centre of mass put here (MNIST's digits average (14.0, 14.0))
WORK_SIDE = 1024  # larger pictures are reduced to this first: the digit ends up 20 px anyway
MIN_CONTRAST = 0.1  # ink this close to the paper is not ink
FloatImage = npt.NDArray[np.float32]


class ImageError(ValueError):
    """A picture that cannot be made into the model's input; the message says why."""


class NotAnImageError(ImageError):
    """The bytes are none of FORMATS."""


class BrokenImageError(ImageError):
    """The bytes start as one of FORMATS but cannot be decoded (truncated, corrupt)."""


class ImageTooLargeError(ImageError):
    """The picture has more pixels than allowed; refused before it is decoded."""


class BlankImageError(ImageError):
    """The picture has no ink: one colour, or nearly."""


def to_input(data: bytes, *, max_pixels: int) -> FloatImage:
    """Turn an image file into the model's input: float32 (1, 1, 28, 28), white ink on black.

    :raises ImageError: (one of its subclasses) if the file cannot be read or shows no ink.
    """
    return place(find_ink(read_grey(data, max_pixels=max_pixels))).reshape(1, 1, SIDE, SIDE)


def read_grey(data: bytes, *, max_pixels: int) -> FloatImage:
    """Decode the first frame as grey levels in [0, 1] (1 = white), transparency on white paper.

    Pictures over WORK_SIDE are reduced to it (JPEGs are decoded at a reduced scale).

    :raises ImageTooLargeError: before decoding, if the picture would decode to more than
        max_pixels pixels (a JPEG's at the reduced scale it is decoded at).
    """
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        kind = next((kind for start, kind in _SIGNATURES.items() if data.startswith(start)), None)
        if kind is None or (kind == "WEBP" and data[8:12] != b"WEBP"):
            raise NotAnImageError(f"The file is not a {FORMAT_NAMES} image.") from None
        raise BrokenImageError(f"The file starts as a {kind} image but its header is "
                               f"broken.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"The image is over the limit of {max_pixels:,} pixels "
                                 f"(MAX_IMAGE_PIXELS): {error}") from None
    except Exception as error:  # Pillow raises many types for bad headers (SyntaxError, ...)
        raise BrokenImageError(f"The image's header is broken: {error}.") from None
    with image:
        width, height = image.size
        try:
            image.draft("L", (WORK_SIDE, WORK_SIDE))  # a JPEG is decoded at 1/2 to 1/8 scale
            decoded = image.size[0] * image.size[1]
            grey = _decode(image) if decoded <= max_pixels else None
        except Exception as error:  # truncated or corrupt data: OSError, ValueError, ...
            raise BrokenImageError(
                f"The {image.format} image could not be decoded: {error}.") from None
    if grey is None:
        reduced = f" ({decoded:,} at a JPEG's reduced scale)" if decoded != width * height else ""
        raise ImageTooLargeError(f"The image is {width}x{height} = {width * height:,} pixels"
                                 f"{reduced}, over the limit of {max_pixels:,} "
                                 f"(MAX_IMAGE_PIXELS).")
    return grey


def _decode(image: Image.Image) -> FloatImage:
    """Load, turn upright, flatten and reduce image to grey levels in [0, 1].

    Each full-size copy is freed as soon as the next exists: a 16-megapixel RGBA PNG decodes
    to 64 MB, and a worker should not hold several of those at once.
    """
    ImageOps.exif_transpose(image, in_place=True)  # a phone photo's orientation
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey: Pillow's "L" would clip
        flat = Image.fromarray((np.asarray(image, np.float32) / 65535.0).clip(0, 1))
    elif image.has_transparency_data:
        with image.convert("LA") as both:
            image.close()
            flat = Image.new("L", both.size, 255)  # white paper under the transparency
            flat.paste(both.getchannel("L"), mask=both.getchannel("A"))
    else:
        flat = image.convert("L")
    image.close()
    if max(flat.size) > WORK_SIDE:
        flat.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    grey: FloatImage = np.asarray(flat, np.float32)
    return grey if flat.mode == "F" else grey / np.float32(255)


def find_ink(grey: FloatImage) -> FloatImage:
    """Return how much ink each pixel holds, in [0, 1], whatever the polarity.

    The paper is the median of the border: light paper means dark ink, which is inverted.
    The paper's level and grain (from the border) and a tenth of the contrast are removed.

    :raises BlankImageError: if nothing stands out from the paper.
    """
    border = np.concatenate((grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]))
    paper = float(np.median(border))
    if paper > 0.5:
        grey, border, paper = 1.0 - grey, 1.0 - border, 1.0 - paper
    grain = 1.4826 * float(np.median(np.abs(border - paper)))  # robust standard deviation
    marked = grey[grey > paper + max(3 * grain, MIN_CONTRAST / 2)]
    if marked.size < 3:
        raise BlankImageError("The image has no ink: it is one colour, or nearly. Send a "
                              "digit darker or lighter than its background.")
    ink = float(np.percentile(marked, 90))  # the strokes' level, robust to a few hot pixels
    floor = paper + max(3 * grain, 0.1 * (ink - paper))
    if ink - floor < MIN_CONTRAST:
        raise BlankImageError(f"The image has no ink: nothing differs from the background by "
                              f"more than {ink - paper:.2f} of the full range.")
    amount: FloatImage = np.clip((grey - floor) / (ink - floor), 0.0, 1.0).astype(np.float32)
    return amount


def place(ink: FloatImage) -> FloatImage:
    """Crop to the ink, scale its longer side to 20 px and centre its mass in 28x28."""
    rows = np.flatnonzero((ink > 0.2).any(axis=1))
    cols = np.flatnonzero((ink > 0.2).any(axis=0))
    if rows.size == 0:
        raise BlankImageError("The image has no ink strong enough to read.")
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = BOX / max(crop.shape)
    height, width = (max(1, round(side * scale)) for side in crop.shape)
    digit = Image.fromarray(crop).resize((width, height), Image.Resampling.LANCZOS)
    small = np.asarray(digit, np.float32).clip(0.0, 1.0)
    mass = float(small.sum())
    if mass == 0.0:
        raise BlankImageError("The image has no ink strong enough to read.")
    top = round(CENTRE - float(small.sum(axis=1) @ np.arange(height)) / mass)
    left = round(CENTRE - float(small.sum(axis=0) @ np.arange(width)) / mass)
    top, left = min(max(top, 0), SIDE - height), min(max(left, 0), SIDE - width)
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + height, left:left + width] = small
    return out
