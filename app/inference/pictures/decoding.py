"""Picture bytes -> grey levels: Pillow decodes the first frame, within the budget in budget.py."""

from __future__ import annotations

import warnings

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

from app.inference.pictures.budget import MeteredBytes
from app.inference.pictures.budget import Overtime
from app.inference.pictures.budget import check_size
from app.inference.pictures.budget import cpu_budget
from app.inference.pictures.errors import BrokenImageError
from app.inference.pictures.errors import ImageError
from app.inference.pictures.errors import ImageTooLargeError
from app.inference.pictures.headers import read_header
from app.inference.pictures.layout import Header
from app.inference.pictures.layout import check_exif
from app.web.errors import WorkerTimeoutError

WORK_SIDE = 1024  # larger pictures are reduced to this first: the digit ends up 20 px anyway
FloatImage = npt.NDArray[np.float32]


def read_grey(data: bytes, *, max_pixels: int, cpu_seconds: float | None = None) -> FloatImage:
    """Decode the first frame as grey levels in [0, 1] (1 = white), transparency on white paper.

    Pictures over WORK_SIDE are reduced to it (JPEGs are decoded at a reduced scale).

    :raises ImageError: NotAnImageError, BrokenImageError; ImageTooComplexError from the
        header; ImageTooLargeError from the header (pixels, samples), or once decoding has
        used cpu_seconds of the thread's CPU time (default: cpu_budget(max_pixels)).
    """
    header = read_header(data)
    check_size(header, max_pixels)
    if cpu_seconds is None:
        cpu_seconds = cpu_budget(max_pixels)
    try:
        with warnings.catch_warnings():
            # A client's file is not the server's to warn about; a decompression bomb is an
            # error. (Not thread-safe before Python 3.14: with threads, a warning may stay a
            # warning, and the pixel checks above still hold.)
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _read(MeteredBytes(data, cpu_seconds), header, max_pixels)
    except Overtime:
        raise ImageTooLargeError(f"Decoding the {header.kind} image was stopped after "
                                 f"{cpu_seconds:g} s of CPU time, the limit for a "
                                 f"picture.") from None


def _read(stream: MeteredBytes, header: Header, max_pixels: int) -> FloatImage:
    """Open and decode the picture, each failure an ImageError with Pillow's reason."""
    try:
        image = Image.open(stream, formats=(header.kind,))
    except UnidentifiedImageError:
        raise BrokenImageError(f"The file starts as a {header.kind} image but its header is "
                               f"broken.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"The image is over the limit of {max_pixels:,} pixels "
                                 f"(MAX_IMAGE_PIXELS): {error}") from None
    except WorkerTimeoutError:  # Gunicorn's timeout, raised in here: not the picture's fault
        raise
    except Exception as error:  # Pillow raises many types for bad headers (SyntaxError, ...)
        raise BrokenImageError(f"The image's header is broken: {error}.") from None
    with image:
        width, height = image.size
        try:
            image.draft("L", _draft_box(width, height))  # a JPEG: decoded at 1/2 to 1/8 scale
            decoded = image.size[0] * image.size[1]
            grey = _decode(image) if decoded <= max_pixels else None
        except (ImageError, WorkerTimeoutError):
            raise
        except Exception as error:  # truncated or corrupt data: OSError, ValueError, ...
            raise BrokenImageError(
                f"The {image.format} image could not be decoded: {error}.") from None
    if grey is None:
        reduced = f" ({decoded:,} at a JPEG's reduced scale)" if decoded != width * height else ""
        raise ImageTooLargeError(f"The image is {width}x{height} = {width * height:,} pixels"
                                 f"{reduced}, over the limit of {max_pixels:,} "
                                 f"(MAX_IMAGE_PIXELS).")
    return grey


def _draft_box(width: int, height: int) -> tuple[int, int]:
    """Return the box a JPEG's reduced scale must still cover: WORK_SIDE on its longer side.

    Pillow picks the smallest scale whose picture still covers the box on both sides; a
    square box would keep a 5184x3888 photo at 1/2 (5 megapixels), this one lets it go to 1/4.
    """
    longer = max(width, height, 1)
    return max(1, width * WORK_SIDE // longer), max(1, height * WORK_SIDE // longer)


def _decode(image: Image.Image) -> FloatImage:
    """Load, turn upright, flatten and reduce image to grey levels in [0, 1].

    Each full-size copy is freed as soon as the next exists: a 16-megapixel RGBA PNG decodes
    to 64 MB, and a worker should not hold several of those at once.
    """
    image.load()
    _check_exif(image)
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


def _check_exif(image: Image.Image) -> None:
    """Refuse an EXIF block Pillow would read entry by entry for long (see check_exif).

    A PNG's may come from a text chunk, in hex, as ImageMagick writes it.
    """
    block = image.info.get("exif")
    raw = image.info.get("Raw profile type exif")
    if block is None and isinstance(raw, str):
        try:
            block = bytes.fromhex("".join(raw.split("\n")[3:]))
        except ValueError:
            return  # Pillow will say it is broken
    if isinstance(block, bytes):
        check_exif(block.removeprefix(b"Exif\0\0"))
