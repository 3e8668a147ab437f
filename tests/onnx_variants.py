"""ONNX files for build tests. ``export_fp32`` (tests/artifacts.py) makes the fp32 model;
``make_fp16_variant`` / ``make_int8_variant`` are *structural stand-ins* for the export stage's
model.fp16.onnx / model.int8.onnx: valid ONNX with a FLOAT16 cast pair / a Q/DQ pair on the input,
enough for file resolution and precision checks, not for accuracy claims.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from artifacts import export_fp32  # noqa: F401 - re-exported for the build tests
from onnx import TensorProto, helper


def _prepend_on_input(src: Path, dst: Path, nodes: list, inits: list) -> Path:
    proto = onnx.load(str(src))
    graph = proto.graph
    name = graph.input[0].name
    fresh = f"{name}__pre"
    for node in graph.node:
        node.input[:] = [fresh if i == name else i for i in node.input]
    nodes[-1].output[0] = fresh
    graph.initializer.extend(inits)
    for i, node in enumerate(nodes):
        graph.node.insert(i, node)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))
    return dst


def make_fp16_variant(fp32: Path) -> Path:
    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    nodes = [
        helper.make_node("Cast", [name], ["x_half"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["x_half"], ["placeholder"], to=TensorProto.FLOAT),
    ]
    return _prepend_on_input(fp32, fp32.with_name("model.fp16.onnx"), nodes, [])


def make_int8_variant(fp32: Path) -> Path:
    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    inits = [
        helper.make_tensor("in_scale", TensorProto.FLOAT, [], [0.02]),
        helper.make_tensor("in_zero", TensorProto.INT8, [], [0]),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", [name, "in_scale", "in_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "in_scale", "in_zero"], ["placeholder"]),
    ]
    return _prepend_on_input(fp32, fp32.with_name("model.int8.onnx"), nodes, inits)
