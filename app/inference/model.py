"""The ONNX digit model: loading, checking and running it, one session per worker process."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from flask import Flask
from flask import current_app

from app.inference import contract
from app.inference.contract import DEFAULT_OPTIONS
from app.inference.contract import Contract
from app.inference.contract import Options
from app.inference.known import known_digits
from app.inference.session import make_session
from app.inference.session import one_line
from app.inference.session import read_model_file
from app.inference.session import shrink_arena_options
from app.web import memory
from app.web.errors import ModelLoadError
from app.web.errors import ModelUnavailableError
from app.web.errors import WorkerTimeoutError

KEY = "digitserve.model"
INPUT_SHAPE = contract.LAYOUTS["nchw"]  # the service's own batches: (N, 1, 28, 28) in [0, 1]
N_CLASSES = contract.CLASSES
Batch = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Prediction:
    """The classifier's answer for one image."""

    prediction: int
    confidence: float
    probabilities: list[float]


@dataclass(frozen=True)
class ModelInfo:
    """What the service knows about the loaded model file and session."""

    path: str  # the model file the service is configured with (MODEL_PATH)
    sha256: str
    size_bytes: int
    name: str
    version: str
    input_name: str
    output_name: str
    threads: int
    pid: int
    load_ms: float = 0.0
    loaded_from: str = ""  # the file read: MODEL_PATH, or the master's checked copy of it
    onnxruntime_version: str = ort.__version__
    metadata: dict[str, str] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)


class DigitClassifier:
    """The ONNX digit model behind a numpy-in, Prediction-out interface."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo, terms: Contract) -> None:
        self._session = session
        self.info = info
        self.contract = terms
        self._outputs = [terms.output_name]
        self._warmup = np.zeros((1, *INPUT_SHAPE), dtype=np.float32)
        # The served model's own case costs nothing: its batches and answers pass as they are.
        self._plain = terms.plain_input and terms.batch is None
        self._probabilities = terms.output_kind == "probabilities"

    @classmethod
    def load(cls, path: Path, *, threads: int, source: Path | None = None,
             options: Options = DEFAULT_OPTIONS) -> DigitClassifier:
        """Open the model (read from source, if given), check it against the contract.

        :raises ModelLoadError: if the file is missing, empty, corrupt or outside the contract.
        """
        started = time.perf_counter()
        model = cls.from_bytes(read_model_file(source or path), path=path, threads=threads,
                               options=options)
        model.info = replace(model.info, loaded_from=str(source or path),
                             load_ms=round((time.perf_counter() - started) * 1000, 1))
        return model

    @classmethod
    def from_bytes(cls, content: bytes, *, path: Path, threads: int,
                   options: Options = DEFAULT_OPTIONS) -> DigitClassifier:
        """Make a session from a model file's bytes, read its contract, warm it up.

        :raises ModelLoadError: if the bytes are not a model the contract takes.
        """
        session = make_session(content, threads=threads, path=path)
        meta = dict(session.get_modelmeta().custom_metadata_map)
        input_name, layout, batch, output_name = contract.read_interface(
            session.get_inputs(), session.get_outputs(), options, meta, path)
        terms = Contract(input_name, layout, batch, output_name, "probabilities",
                         contract.input_range(options, meta, path))
        model = cls(session, ModelInfo(
            path=str(path), sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content),
            name=options.model_name or meta.get("name", path.stem),
            version=meta.get("version", "unknown"),
            input_name=input_name, output_name=output_name, threads=threads, pid=os.getpid(),
            metadata=meta), terms)
        try:
            sample = model._scores(known_digits()[0])
        except ModelUnavailableError as exc:
            raise ModelLoadError(f"model {path} failed its warm-up inference: "
                                 f"{one_line(exc.detail or exc.message)}") from exc
        kind = contract.output_kind(sample, options, meta, path)
        return model.with_contract(replace(terms, output_kind=kind))

    def with_contract(self, terms: Contract) -> DigitClassifier:
        """Return this model read by another contract (its kind of scores found out)."""
        model = DigitClassifier(self._session, replace(self.info, contract=terms.describe()),
                                terms)
        try:
            model.check()
        except ModelUnavailableError as exc:
            raise ModelLoadError(f"model {self.info.path} failed its warm-up inference: "
                                 f"{one_line(exc.detail or exc.message)}") from exc
        return model

    def predict(self, batch: Batch) -> list[Prediction]:
        """Classify a batch shaped (N, 1, 28, 28) with values in [0, 1]."""
        rows = np.round(self._run(batch).astype(np.float64), 6).tolist()
        # Plain Python on 10 floats a row beats numpy's per-call overhead at these sizes.
        return [Prediction(row.index(top), top, row) for row in rows for top in (max(row),)]

    def probabilities(self, batch: Batch) -> Batch:
        """Return float32 (N, 10) probabilities for a batch shaped (N, 1, 28, 28).

        :raises ModelUnavailableError: if inference fails.
        """
        return self._run(batch)

    def check(self) -> None:
        """Run the warm-up batch and check the answer is a probability distribution.

        :raises ModelUnavailableError: if inference fails or returns nonsense.
        """
        probabilities = self._run(self._warmup)
        if probabilities.shape != (1, N_CLASSES) or not np.isfinite(probabilities).all():
            raise ModelUnavailableError(f"warm-up returned shape {probabilities.shape}")
        if abs(float(probabilities.sum()) - 1.0) > contract.SUM_TOLERANCE:
            raise ModelUnavailableError("warm-up probabilities do not sum to 1")

    def release_arena(self) -> None:
        """Hand the arena's unused chunks back: one check inference with arena shrinkage."""
        warmup = self.contract.feed(self._warmup)
        if self.contract.batch is not None:
            warmup = np.zeros((self.contract.batch, *warmup.shape[1:]), np.float32)
        self._session.run(self._outputs, {self.info.input_name: warmup},
                          shrink_arena_options())

    def _run(self, batch: Batch) -> Batch:
        """Feed a (N, 1, 28, 28) batch in [0, 1] to the model; return probabilities."""
        scores = self._call(batch) if self._plain else self._scores(batch)
        return scores if self._probabilities else self.contract.probabilities(scores)

    def _scores(self, batch: Batch) -> Batch:
        """Return the model's own scores for a batch, whatever its layout and batch size."""
        if self._plain:
            return self._call(batch)
        feed = self.contract.feed(batch)
        size = self.contract.batch
        if size is None:
            return self._call(feed)
        # A fixed batch size: run it in slices of that size, the last one padded with zeros.
        padded = np.zeros((-(-len(feed) // size) * size, *feed.shape[1:]), np.float32)
        padded[:len(feed)] = feed
        parts = [self._call(padded[start:start + size])
                 for start in range(0, len(padded), size)]
        return np.concatenate(parts)[:len(feed)]

    def _call(self, feed: Batch) -> Batch:
        """One onnxruntime call; a failure is a 503 whose details go to the log only."""
        try:
            outputs = self._session.run(self._outputs, {self.info.input_name: feed})
        except WorkerTimeoutError:  # Gunicorn's timeout, raised in here: not the model's fault
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            # onnxruntime's text names graph nodes and internals: the log gets it, clients don't.
            raise ModelUnavailableError("inference failed; the server log has the details",
                                        detail=f"{type(exc).__name__}: {exc}") from exc
        result: Batch = outputs[0]
        return result


def init_app(app: Flask) -> None:
    """Load the model for this worker process; a bad model stops start-up.

    Under Gunicorn the worker reads MODEL_SNAPSHOT, the copy of MODEL_PATH the master checked,
    so a file being replaced on disk never reaches a worker unchecked.
    """
    snapshot = app.config["MODEL_SNAPSHOT"]
    model = DigitClassifier.load(Path(app.config["MODEL_PATH"]), threads=app.config["ORT_THREADS"],
                                 source=Path(snapshot) if snapshot else None,
                                 options=Options.from_config(app.config))
    app.extensions[KEY] = model
    memory.set_arena_release(model.release_arena)
    info = model.info
    app.logger.info("pid %d loaded model %s %s (sha256 %s) from %s in %.0f ms, %d thread(s)",
                    info.pid, info.name, info.version, info.sha256[:12], info.loaded_from,
                    info.load_ms, info.threads)


def get_model() -> DigitClassifier:
    """Return the current app's model."""
    model: DigitClassifier = current_app.extensions[KEY]
    return model
