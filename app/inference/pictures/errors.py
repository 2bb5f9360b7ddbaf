"""Why a picture cannot be made into the model's input: one error class per reason."""

from __future__ import annotations


class ImageError(ValueError):
    """A picture that cannot be made into the model's input; the message says why."""


class NotAnImageError(ImageError):
    """The bytes are none of the accepted formats, or a kind of one that is not accepted."""


class BrokenImageError(ImageError):
    """The bytes start as an accepted format but cannot be decoded (truncated, corrupt)."""


class ImageTooLargeError(ImageError):
    """Decoding would cost more than allowed: pixels, samples held at full size, CPU time.

    Refused from the header, before decoding, except the CPU time, which stops the decoder.
    """


class ImageTooComplexError(ImageError):
    """The file's structure goes far beyond what a picture needs (scans, chunks, blocks,
    segments, EXIF entries); refused from the header, before decoding."""


class BlankImageError(ImageError):
    """The picture has no ink: one colour, or nearly."""
