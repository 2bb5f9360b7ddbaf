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

    path: str
    sha256: str
    size_bytes: int
    name: str
    version: str
    input_name: str
    output_name: str
    threads: int
    pid: int
    load_ms: float = 0.0
    onnxruntime_version: str = ort.__version__
    metadata: dict[str, str] = field(default_factory=dict)


class DigitClassifier:
    """The ONNX digit model behind a numpy-in, Prediction-out interface."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self._session = session
        self.info = info
        self._warmup = np.zeros((1, *INPUT_SHAPE), dtype=np.float32)

    @classmethod
    def load(cls, path: Path, *, threads: int) -> DigitClassifier:
        """Open the model, check its interface and run one warm-up batch.

        :raises ModelLoadError: if the file is missing, empty, corrupt or not a digit model.
        """
        started = time.perf_counter()
        content = _read_model_bytes(path)
        try:
            session = ort.InferenceSession(content, _session_options(threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load model {path}: {exc}") from exc
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
                                 f"{exc.detail or exc.message}") from exc
        model.info = replace(model.info, load_ms=round((time.perf_counter() - started) * 1000, 1))
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


def _read_model_bytes(path: Path) -> bytes:
    """Read the whole model file; a missing or empty file is a ModelLoadError."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from exc
    if not content:
        raise ModelLoadError(f"model file {path} is empty")
    return content


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
    """Load the model for this worker process; a bad model stops start-up."""
    model = DigitClassifier.load(Path(app.config["MODEL_PATH"]), threads=app.config["ORT_THREADS"])
    app.extensions[KEY] = model
    memory.set_arena_release(model.release_arena)
    info = model.info
    app.logger.info("pid %d loaded model %s %s (sha256 %s) from %s in %.0f ms, %d thread(s)",
                    info.pid, info.name, info.version, info.sha256[:12], info.path, info.load_ms,
                    info.threads)


def get_model() -> DigitClassifier:
    """Return the current app's model."""
    model: DigitClassifier = current_app.extensions[KEY]
    return model
