"""Export the net to one self-contained ONNX file, check it with onnxruntime, add metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch

from training.net import DigitNet
from training.net import DigitProbabilities
from training.runtime import INPUT_NAME
from training.runtime import OUTPUT_NAME
from training.runtime import run_onnx
from training.runtime import to_input

MAX_ABS_DIFF = 1e-4


@dataclass(frozen=True)
class ExportReport:
    """What the card needs to know about the exported file."""

    path: Path
    opset: int
    max_abs_diff: float
    size_bytes: int
    sha256: str
    metadata: dict[str, str]


def export_graph(net: DigitNet, path: Path, images: npt.NDArray[np.uint8]) -> float:
    """Export `net` plus softmax to `path`; return the largest torch vs onnxruntime difference.

    :raises AssertionError: if torch and onnxruntime disagree by MAX_ABS_DIFF or more on `images`.
    """
    model = DigitProbabilities(net).eval()
    batch = to_input(images)
    torch.onnx.export(
        model,
        (torch.from_numpy(batch[:4]),),
        path,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch", min=1)}},
        external_data=False,  # one file: the server loads and hashes model.onnx alone
        dynamo=True,
    )
    path.with_name(path.name + ".data").unlink(missing_ok=True)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    max_abs_diff = float(np.abs(run_onnx(path, batch) - expected).max())
    print(f"torch vs onnxruntime on {len(batch)} held-out digits: max abs diff {max_abs_diff:.3g}")
    assert max_abs_diff < MAX_ABS_DIFF, f"onnxruntime disagrees with torch: {max_abs_diff}"
    return max_abs_diff


def write_metadata(
    path: Path, metadata: dict[str, str], images: npt.NDArray[np.uint8], max_abs_diff: float
) -> ExportReport:
    """Store `metadata` as the file's metadata_props; check the answers did not change.

    :raises AssertionError: if the final bytes answer differently from the bare export.
    """
    batch = to_input(images)
    before = run_onnx(path, batch)
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, metadata)
    proto.doc_string = metadata["architecture"]
    proto.model_version = int(metadata["version"].split(".")[0])
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)
    # The final bytes must still give the same answers, and are what the hash covers.
    assert np.array_equal(run_onnx(path, batch), before)
    data = path.read_bytes()
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return ExportReport(
        path=path,
        opset=opset,
        max_abs_diff=max_abs_diff,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        metadata=metadata,
    )
