"""The model contract: which ONNX files the service serves, and how it feeds and reads them.

A model takes one float tensor holding 784 values an image, as (N, 1, 28, 28), (N, 28, 28),
(N, 784) or (N, 28, 28, 1); its batch dimension is dynamic or fixed. It gives 10 scores an
image in one float output (others, such as an INT64 label, are ignored): probabilities,
logits or log-probabilities, found out from its answers unless a setting or the file's
metadata says which. It was trained on pixels in [0, 1] unless a setting or the metadata says
0-255 or MNIST's standardisation. The service always feeds images in its own layout and range
and always answers probabilities; this module turns the one into the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.web.errors import ModelLoadError

PIXELS = 784
CLASSES = 10
# What follows the batch dimension in each layout the service can feed.
LAYOUTS: dict[str, tuple[int, ...]] = {"nchw": (1, 28, 28), "nhw": (28, 28), "flat": (PIXELS,),
                                       "nhwc": (28, 28, 1)}
KINDS = ("probabilities", "logits", "log_probabilities")
# Pixel values the model was trained on, as (scale, offset) applied to the service's [0, 1].
RANGES: dict[str, tuple[float, float]] = {
    "0-1": (1.0, 0.0), "0-255": (255.0, 0.0), "mnist": (1 / 0.3081, -0.1307 / 0.3081)}
# The file's metadata_props may say these (a setting, when given, wins).
META_OUTPUT, META_KIND, META_RANGE = ("digitserve.output_name", "digitserve.output_kind",
                                      "digitserve.input_range")
WANTS = ("the contract: one float input of 784 values an image ((N, 1, 28, 28), (N, 28, 28), "
         "(N, 784) or (N, 28, 28, 1)) and one float output of 10 scores an image")
SUM_TOLERANCE = 1e-3

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Options:
    """What settings say of the model (empty or "auto": the file's metadata, then detection)."""

    output_name: str = ""
    output_kind: str = "auto"
    input_range: str = "auto"
    input_layout: str = "auto"
    model_name: str = ""  # the name it is served under (else the metadata's, or the file's)

    @classmethod
    def from_config(cls, config: Any) -> Options:
        """Read the options from the app's config (DIGITSERVE_OUTPUT_NAME, ...)."""
        return cls(config["OUTPUT_NAME"], config["OUTPUT_KIND"], config["INPUT_RANGE"],
                   config["INPUT_LAYOUT"], config["MODEL_NAME"])


DEFAULT_OPTIONS = Options()


@dataclass(frozen=True)
class Contract:
    """How one model file is fed and read."""

    input_name: str
    layout: str  # a key of LAYOUTS
    batch: int | None  # the model's fixed batch size, or None
    output_name: str
    output_kind: str  # one of KINDS
    input_range: str  # a key of RANGES

    @property
    def plain_input(self) -> bool:
        """Tell whether the service's (N, 1, 28, 28) batch in [0, 1] goes in as it is."""
        return self.layout == "nchw" and self.input_range == "0-1"

    def feed(self, batch: Scores) -> Scores:
        """Turn the service's (N, 1, 28, 28) batch in [0, 1] into the model's input."""
        if self.plain_input:
            return batch
        scale, offset = RANGES[self.input_range]
        shaped = batch.reshape(len(batch), *LAYOUTS[self.layout])
        if (scale, offset) == (1.0, 0.0):
            return shaped
        result: Scores = (shaped * np.float32(scale) + np.float32(offset)).astype(np.float32)
        return result

    def probabilities(self, scores: Scores) -> Scores:
        """Turn the model's scores into probabilities (softmax of logits, exp of log-probs)."""
        if self.output_kind == "probabilities":
            return scores
        if self.output_kind == "log_probabilities":
            return np.exp(scores, dtype=np.float32)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True), dtype=np.float32)
        result: Scores = shifted / shifted.sum(axis=1, keepdims=True)
        return result

    def describe(self) -> dict[str, Any]:
        """Return the contract as /model shows it."""
        return {"input": self.input_name, "layout": self.layout, "batch": self.batch,
                "output": self.output_name, "output_kind": self.output_kind,
                "input_range": self.input_range}


def read_interface(inputs: list[Any], outputs: list[Any], options: Options,
                   metadata: dict[str, str], path: object) -> tuple[str, str, int | None, str]:
    """Check the session's inputs and outputs; return input name, layout, batch, output name.

    :raises ModelLoadError: naming what does not fit the contract.
    """
    if len(inputs) != 1:
        names = ", ".join(item.name for item in inputs)
        raise ModelLoadError(f"model {path} has {len(inputs)} inputs ({names}); {WANTS}")
    given = inputs[0]
    if given.type != "tensor(float)":
        raise ModelLoadError(f"model {path} input {given.name!r} is {given.type}; {WANTS}")
    layout = _layout(list(given.shape), options.input_layout)
    if layout is None:
        raise ModelLoadError(f"model {path} input {given.name!r} has shape {list(given.shape)}; "
                             f"{WANTS}")
    batch = given.shape[0] if isinstance(given.shape[0], int) and given.shape[0] > 0 else None
    return given.name, layout, batch, _output(outputs, options, metadata, path)


def _layout(shape: list[Any], wanted: str) -> str | None:
    """Return the layout a shape fits (a named dimension fits any size), or None."""
    rest = shape[1:]

    def fits(sizes: tuple[int, ...]) -> bool:
        return len(rest) == len(sizes) and all(
            not isinstance(dim, int) or dim in (size, -1) for dim, size in zip(rest, sizes,
                                                                             strict=True))

    if wanted != "auto":
        return wanted if fits(LAYOUTS[wanted]) else None
    return next((name for name, sizes in LAYOUTS.items() if fits(sizes)), None)


def _output(outputs: list[Any], options: Options, metadata: dict[str, str],
            path: object) -> str:
    """Pick the output of 10 scores an image: the one named, or the only one there is."""
    named = options.output_name or metadata.get(META_OUTPUT, "")
    floats = [item for item in outputs if item.type == "tensor(float)"]
    if named:
        found = next((item for item in outputs if item.name == named), None)
        if found is None:
            raise ModelLoadError(f"model {path} has no output {named!r}; it has "
                                 f"{[item.name for item in outputs]}")
        if found not in floats or not _ten_scores(found.shape):
            raise ModelLoadError(f"model {path} output {named!r} is {found.type} "
                                 f"{list(found.shape)}; {WANTS}")
        return str(found.name)
    scores = [item for item in floats if _ten_scores(item.shape)]
    if len(scores) > 1:
        raise ModelLoadError(f"model {path} has {len(scores)} float outputs of 10 scores "
                             f"({', '.join(item.name for item in scores)}): name the one to "
                             f"serve with DIGITSERVE_OUTPUT_NAME")
    if not scores:
        shown = ", ".join(f"{item.name} {item.type} {list(item.shape)}" for item in outputs)
        raise ModelLoadError(f"model {path} output must be (N, 10), has {shown}; {WANTS}")
    return str(scores[0].name)


def _ten_scores(shape: list[Any]) -> bool:
    """Tell whether an output shape is (N, 10) (a named last dimension is checked later)."""
    return len(shape) == 2 and (not isinstance(shape[1], int) or shape[1] == CLASSES)


def output_kind(sample: Scores, options: Options, metadata: dict[str, str],
                path: object) -> str:
    """Name the kind of scores a model gives: the setting, the metadata, or its answers.

    :raises ModelLoadError: if the setting or metadata names no kind, or the sample is not
        (N, 10) finite scores.
    """
    if sample.ndim != 2 or sample.shape[1] != CLASSES or not np.isfinite(sample).all():
        raise ModelLoadError(f"model {path} answered shape {list(sample.shape)} (or non-finite "
                             f"scores) for {len(sample)} images; {WANTS}")
    given = options.output_kind if options.output_kind != "auto" else metadata.get(META_KIND, "")
    if given:
        if given not in KINDS:
            raise ModelLoadError(f"model {path} metadata {META_KIND} is {given!r}; it must be "
                                 f"one of {', '.join(KINDS)}")
        return given
    sums = sample.astype(np.float64).sum(axis=1)
    if sample.min() >= 0 and np.abs(sums - 1).max() <= SUM_TOLERANCE:
        return "probabilities"
    exp_sums = np.exp(sample.astype(np.float64)).sum(axis=1)
    if sample.max() <= 0 and np.abs(exp_sums - 1).max() <= SUM_TOLERANCE:
        return "log_probabilities"
    return "logits"


def input_range(options: Options, metadata: dict[str, str], path: object) -> str:
    """Name the pixel range the model was trained on: the setting, the metadata, or 0-1.

    :raises ModelLoadError: if the metadata names a range the service does not know.
    """
    if options.input_range != "auto":
        return options.input_range
    given = metadata.get(META_RANGE, "0-1")
    if given not in RANGES:
        raise ModelLoadError(f"model {path} metadata {META_RANGE} is {given!r}; it must be one "
                             f"of {', '.join(RANGES)}")
    return given
