"""The ONNX digit model: loading, checking and running it, one session per worker process."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from flask import Flask
from flask import current_app

from app.web import memory
from app.web.errors import ModelLoadError
from app.web.errors import ModelUnavailableError

KEY = "digitserve.model"
INPUT_SHAPE = (1, 28, 28)
N_CLASSES = 10


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


class DigitClassifier:
    """The ONNX digit model behind a numpy-in, Prediction-out interface."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self._session = session
        self.info = info
        self._warmup = np.zeros((1, *INPUT_SHAPE), dtype=np.float32)

    @classmethod
    def load(cls, path: Path, *, threads: int, source: Path | None = None) -> DigitClassifier:
        """Open the model (read from source, if given), check its interface, warm it up.

        :raises ModelLoadError: if the file is missing, empty, corrupt or not a digit model.
        """
        started = time.perf_counter()
        model = cls.from_bytes(read_model_file(source or path), path=path, threads=threads)
        model.info = replace(model.info, loaded_from=str(source or path),
                             load_ms=round((time.perf_counter() - started) * 1000, 1))
        return model

    @classmethod
    def from_bytes(cls, content: bytes, *, path: Path, threads: int) -> DigitClassifier:
        """Make a session from a model file's bytes, check its interface, warm it up.

        :raises ModelLoadError: if the bytes are not a digit model; the message names path.
        """
        try:
            session = ort.InferenceSession(content, _session_options(threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load model {path}: {one_line(exc)}") from exc
        input_name, output_name = _check_interface(session, path)
        meta = session.get_modelmeta().custom_metadata_map
        model = cls(session, ModelInfo(
            path=str(path),
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            name=meta.get("name", path.stem),
            version=meta.get("version", "unknown"),
            input_name=input_name,
            output_name=output_name,
            threads=threads,
            pid=os.getpid(),
            metadata=dict(meta),
        ))
        try:
            model.check()
        except ModelUnavailableError as exc:
            raise ModelLoadError(f"model {path} failed its warm-up inference: "
                                 f"{one_line(exc.detail or exc.message)}") from exc
        return model

    def predict(self, batch: npt.NDArray[np.float32]) -> list[Prediction]:
        """Classify a batch shaped (N, 1, 28, 28) with values in [0, 1]."""
        rows = np.round(self._run(batch).astype(np.float64), 6).tolist()
        # Plain Python on 10 floats a row beats numpy's per-call overhead at these sizes.
        return [Prediction(row.index(top), top, row) for row in rows for top in (max(row),)]

    def probabilities(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Return the model's raw float32 (N, 10) output for a batch shaped (N, 1, 28, 28).

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
        if abs(float(probabilities.sum()) - 1.0) > 1e-3:
            raise ModelUnavailableError("warm-up probabilities do not sum to 1")

    def release_arena(self) -> None:
        """Hand the arena's unused chunks back: one check inference with arena shrinkage."""
        self._session.run([self.info.output_name], {self.info.input_name: self._warmup},
                          _shrink_arena_options())

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            outputs = self._session.run([self.info.output_name], {self.info.input_name: batch})
        except Exception as exc:  # onnxruntime raises its own exception types
            # onnxruntime's text names graph nodes and internals: the log gets it, clients don't.
            raise ModelUnavailableError("inference failed; the server log has the details",
                                        detail=f"{type(exc).__name__}: {exc}") from exc
        result: npt.NDArray[np.float32] = outputs[0]
        return result


def one_line(text: object) -> str:
    """Squeeze a message (onnxruntime's span several lines) into one line."""
    return " ".join(str(text).split())


def read_model_file(path: Path) -> bytes:
    """Read a whole model file, refusing one that is missing, empty or changing as it is read.

    :raises ModelLoadError: naming the file and the problem.
    """
    try:
        before = os.stat(path)
        content = path.read_bytes()
        after = os.stat(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from exc
    if not content:
        raise ModelLoadError(f"model file {path} is empty")
    if (_identity(before) != _identity(after)) or len(content) != after.st_size:
        raise ModelLoadError(f"model file {path} changed while it was read (still being "
                             f"copied?): write it beside the target, then rename it into place")
    return content


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    """Return what changes when a file is rewritten or replaced: inode, device, size, mtime."""
    return stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns


def _shrink_arena_options() -> ort.RunOptions:
    """Run options that return the CPU arena's unused chunks to the system after the run."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _session_options(threads: int) -> ort.SessionOptions:
    """Pin the thread pools: the defaults start a spinning thread per core in every worker."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _check_interface(session: ort.InferenceSession, path: Path) -> tuple[str, str]:
    """Return the input and output names, after checking they fit (N, 1, 28, 28) -> (N, 10)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelLoadError(f"model {path} must have one input and one output, "
                             f"has {len(inputs)} and {len(outputs)}")
    shape_in, shape_out = list(inputs[0].shape), list(outputs[0].shape)
    if inputs[0].type != "tensor(float)" or len(shape_in) != 4 or shape_in[1:] != list(INPUT_SHAPE):
        raise ModelLoadError(f"model {path} input must be float (N, 1, 28, 28), "
                             f"is {inputs[0].type} {shape_in}")
    if len(shape_out) != 2 or shape_out[1] != N_CLASSES:
        raise ModelLoadError(f"model {path} output must be (N, 10), is {shape_out}")
    return inputs[0].name, outputs[0].name


def init_app(app: Flask) -> None:
    """Load the model for this worker process; a bad model stops start-up.

    Under Gunicorn the worker reads MODEL_SNAPSHOT, the copy of MODEL_PATH the master checked,
    so a file being replaced on disk never reaches a worker unchecked.
    """
    snapshot = app.config["MODEL_SNAPSHOT"]
    model = DigitClassifier.load(Path(app.config["MODEL_PATH"]), threads=app.config["ORT_THREADS"],
                                 source=Path(snapshot) if snapshot else None)
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
