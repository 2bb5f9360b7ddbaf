"""Model files for the tests: the real model, saved again or broken in each way a deploy can."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper
from onnx import numpy_helper

from tests import exports
from tests.support import MODEL_PATH

# Every kind of file a reload must refuse, and the words the refusal's reason contains.
REFUSED = {
    "missing": "No such file or directory",
    "empty": "is empty",
    "truncated": "protobuf parsing failed",
    "corrupt": "cannot load model",
    "scrambled": "known digits right",
    "five_classes": "output must be (N, 10)",
    "text": "protobuf parsing failed",
    "two_scores": "2 float outputs of 10 scores",
    "int_input": "is tensor(int64)",
}


def real() -> bytes:
    """Return the served model's bytes."""
    return MODEL_PATH.read_bytes()


def same_network_new_bytes(model: bytes, note: str = "saved again") -> bytes:
    """Return model with a different doc_string: the same network, another sha256.

    ONNX files are protocol buffers, where a field written again replaces the earlier value:
    appending ModelProto field 6 (doc_string, length-delimited) keeps the model valid.
    """
    text = note.encode()
    return model + bytes([6 << 3 | 2, len(text)]) + text


def renamed(version: str) -> bytes:
    """Return the served network with another version in its metadata."""
    model = onnx.load_from_string(real())
    for prop in model.metadata_props:
        if prop.key == "version":
            prop.value = version
    return model.SerializeToString()


def scrambled() -> bytes:
    """Return the served model with its weights shuffled: it loads and runs, answering noise."""
    model = onnx.load_from_string(real())
    rng = np.random.default_rng(20261202)
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.size > 16:
            shuffled = rng.permutation(values.ravel()).reshape(values.shape)
            tensor.CopyFrom(numpy_helper.from_array(shuffled.astype(values.dtype), tensor.name))
    return model.SerializeToString()


def five_classes() -> bytes:
    """Return a valid model of the wrong interface: (N, 1, 28, 28) -> 5 probabilities."""
    weights = numpy_helper.from_array(np.full((784, 5), 0.01, np.float32), "weights")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]),
         helper.make_node("MatMul", ["flat", "weights"], ["scores"]),
         helper.make_node("Softmax", ["scores"], ["probabilities"])],
        "five_classes",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 5])],
        [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def broken(kind: str) -> bytes | None:
    """Return the bytes of a model file broken in the given way (None: no file at all)."""
    content = real()
    if kind == "missing":
        return None
    if kind == "empty":
        return b""
    if kind == "truncated":
        return content[: len(content) // 2]
    if kind == "corrupt":
        flipped = bytearray(content)
        for i in range(16, len(flipped), 97):
            flipped[i] ^= 0xFF
        return bytes(flipped)
    if kind == "scrambled":
        return scrambled()
    if kind == "five_classes":
        return five_classes()
    if kind == "text":
        return b"this is not an onnx model\n"
    if kind == "two_scores":  # probabilities and logits, and no setting to say which
        return exports.export(both_scores=True)
    if kind == "int_input":
        return exports.export(int_input=True)
    raise ValueError(kind)
