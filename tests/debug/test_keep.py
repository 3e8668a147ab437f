"""Keeping chosen layers in FP32: name validation, the FP16 and INT8 mechanisms, the metadata."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto

from vggdeploy.artifacts.onnx_meta import recorded_keep_fp32 as recorded
from vggdeploy.errors import UsageError
from vggdeploy.export.keep import make_fp16, resolve_layers


@pytest.fixture(scope="module")
def fp32(debug_run):
    return onnx.load(str(debug_run / "model.onnx"))


def test_resolve_layers(fp32):
    convs = [n for n in fp32.graph.node if n.op_type == "Conv"]
    relu = next(n for n in fp32.graph.node if n.op_type == "Relu")
    # node names, output tensor names and comma-separated lists; duplicates collapse
    got = resolve_layers(fp32, [f"{convs[0].name},{convs[1].output[0]}", convs[0].name], "int8",
                         "tensorrt")  # fmt: skip
    assert got == [convs[0].name, convs[1].name]
    with pytest.raises(UsageError, match="unknown layer 'nope'") as err:
        resolve_layers(fp32, "nope", "int8", "tensorrt")
    assert convs[0].name in err.value.hint
    with pytest.raises(UsageError, match="unknown layer"):  # TensorRT INT8 quantizes Conv/Gemm only
        resolve_layers(fp32, relu.name, "int8", "tensorrt")
    assert resolve_layers(fp32, relu.name, "fp16") == [relu.name]
    with pytest.raises(UsageError, match="no layer named"):
        resolve_layers(fp32, " , ", "fp16")


def test_fp16_keep_fp32(fp32):
    conv = [n for n in fp32.graph.node if n.op_type == "Conv"][2]
    half = make_fp16(fp32, [conv.name])
    assert recorded(half) == [conv.name]
    inferred = onnx.shape_inference.infer_shapes(half).graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*inferred.value_info, *inferred.input)}
    types.update({i.name: i.data_type for i in half.graph.initializer})
    node = next(n for n in half.graph.node if n.name == conv.name)
    assert [types[i] for i in node.input] == [TensorProto.FLOAT] * 3  # computes in FP32
    other = next(n for n in half.graph.node if n.op_type == "Conv" and n.name != conv.name)
    assert [types[i] for i in other.input] == [TensorProto.FLOAT16] * 3
    assert recorded(make_fp16(fp32)) == []
    with pytest.raises(UsageError):
        make_fp16(fp32, ["missing_layer"])
