"""Picture files -> the model's (1, 1, 28, 28) input, made as MNIST's were (Pillow, numpy)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.inference.pictures.decoding import FloatImage
from app.inference.pictures.decoding import read_grey
from app.inference.pictures.errors import BlankImageError

SIDE = 28  # the model's input is SIDE x SIDE
BOX = 20  # MNIST: the digit's longer side is scaled to 20 px...
CENTRE = 14.0  # ...and its centre of mass put here (MNIST's digits average (14.0, 14.0))
MIN_CONTRAST = 0.1  # ink this close to the paper is not ink


def to_input(data: bytes, *, max_pixels: int, cpu_seconds: float | None = None) -> FloatImage:
    """Turn an image file into the model's input: float32 (1, 1, 28, 28), white ink on black.

    cpu_seconds: how long decoding may take (default: budget.cpu_budget(max_pixels)).

    :raises ImageError: (one of its subclasses) if the file cannot be read within its budget
        (app.inference.pictures.budget), or shows no ink.
    """
    # One expression: a name holding the grey picture while find_ink makes its copies makes
    # glibc map fresh pages for them (measured on a 410x343 PNG: 623 page faults, not 380).
    return place(find_ink(read_grey(data, max_pixels=max_pixels, cpu_seconds=cpu_seconds))
                 ).reshape(1, 1, SIDE, SIDE)


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
