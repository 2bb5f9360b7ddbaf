"""Write tests/data/wrong_shape.onnx: a valid ONNX model with the wrong interface, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper
from onnx import numpy_helper

TARGET = Path(__file__).resolve().parent.parent / "tests" / "data" / "wrong_shape.onnx"


def build() -> onnx.ModelProto:
    """Build (N, 784) -> (N, 10): a flat-input classifier the service must refuse."""
    bounds = [numpy_helper.from_array(np.array([v], dtype=np.int64), name)
              for name, v in (("starts", 0), ("ends", 10), ("axes", 1))]
    graph = helper.make_graph(
        [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "wrong_shape",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=bounds,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    onnx.save(build(), TARGET)
    print(f"wrote {TARGET}")
