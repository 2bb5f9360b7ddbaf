"""Model files as users export them, made from the served network (same weights, same answers).

Each is the real model.onnx's graph with what an export of another framework or habit puts
around it: another input layout or name, a fixed batch, logits or log-probabilities instead
of probabilities, a label output beside the scores, inputs expected as 0-255 or standardised.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper
from onnx import numpy_helper

from tests.support import MODEL_PATH

SHAPES = {"nchw": [1, 28, 28], "nhw": [28, 28], "flat": [784], "nhwc": [28, 28, 1]}
# Undo what the service applies for each range, so the network sees what it always saw.
UNDO = {"0-255": (1 / 255, 0.0), "mnist": (0.3081, 0.1307)}


def export(*, layout: str = "nchw", batch: int | None = None, output: str = "probabilities",
           input_name: str = "image", input_range: str = "0-1", label: bool = False,
           both_scores: bool = False, int_input: bool = False,
           metadata: dict[str, str] | None = None) -> bytes:
    """Return the served network exported another way (see the module's docstring).

    output: "probabilities", "logits" or "log_probabilities". label adds an INT64 label
    output; both_scores serves probabilities and logits as two float outputs.
    """
    model = onnx.load_from_string(MODEL_PATH.read_bytes())
    graph = model.graph
    del graph.value_info[:]
    first = "x0"
    for node in graph.node:  # the network now reads x0 (N, 1, 28, 28) in [0, 1]
        node.input[:] = [first if name == "image" else name for name in node.input]
    size = batch if batch is not None else "batch"
    before = _input_nodes(input_name, layout, input_range, int_input, first)
    softmax = graph.node[-1]
    assert softmax.op_type == "Softmax"
    outputs = []
    if output == "logits" or both_scores:
        outputs.append(_scores("logits", size))
    if output == "logits" and not both_scores:
        graph.node.remove(softmax)
        graph.node.append(helper.make_node("Identity", ["linear"], ["logits"]))
    else:
        if both_scores:
            graph.node.append(helper.make_node("Identity", ["linear"], ["logits"]))
        if output == "log_probabilities":
            softmax.op_type = "LogSoftmax"
            softmax.output[:] = ["log_probabilities"]
        outputs.insert(0, _scores(softmax.output[0], size))
    scores = outputs[0].name
    if label:
        graph.node.append(helper.make_node("ArgMax", [scores], ["label"], axis=1, keepdims=0))
        outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, [size]))
    for node in reversed(before):
        graph.node.insert(0, node)
    for tensor in _constants(input_range):
        graph.initializer.append(tensor)
    del graph.input[:]
    del graph.output[:]
    elem = TensorProto.INT64 if int_input else TensorProto.FLOAT
    graph.input.append(helper.make_tensor_value_info(input_name, elem,
                                                     [size, *SHAPES[layout]]))
    graph.output.extend(outputs)
    del model.metadata_props[:]
    for key, value in {"name": "users-mnist", "version": "7", **(metadata or {})}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _scores(name: str, size: int | str) -> onnx.ValueInfoProto:
    """A float output of 10 scores an image."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [size, 10])


def _input_nodes(name: str, layout: str, input_range: str, int_input: bool,
                 target: str) -> list[onnx.NodeProto]:
    """Nodes from the exported input to the network's own x0: cast, undo the range, reshape."""
    nodes, current = [], name
    if int_input:
        nodes.append(helper.make_node("Cast", [current], ["as_float"], to=TensorProto.FLOAT))
        current = "as_float"
    if input_range != "0-1":
        nodes.append(helper.make_node("Mul", [current, "undo_scale"], ["unscaled"]))
        nodes.append(helper.make_node("Add", ["unscaled", "undo_offset"], ["unshifted"]))
        current = "unshifted"
    nodes.append(helper.make_node("Reshape", [current, "nchw_shape"], [target]))
    return nodes


def _constants(input_range: str) -> list[onnx.TensorProto]:
    """The constants the input nodes use."""
    found = [numpy_helper.from_array(np.array([-1, 1, 28, 28], np.int64), "nchw_shape")]
    if input_range != "0-1":
        scale, offset = UNDO[input_range]
        found += [numpy_helper.from_array(np.array(scale, np.float32), "undo_scale"),
                  numpy_helper.from_array(np.array(offset, np.float32), "undo_offset")]
    return found
