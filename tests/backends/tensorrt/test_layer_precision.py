"""The precision gate's parser on REAL engine-inspector JSON (fixtures/, sources in its README).

TensorRT 10.16.1 (trtexec on an H100: fused CASK layers, pooling, Myelin ``gemm`` and ``kgen``
layers, the bare "Float" / "Int32" types) and TensorRT 8.x (trex's ResNet-18 FP16 and MobileNetV2
QAT INT8: reformat layers, long format strings, a Gemm run as a convolution). The expected values
below are read off the fixture files by eye (layer names, types, formats), never computed by the
code under test or by the test double. The 11.x shape has no public real output: the snippets at
the end are hand-written after NVIDIA's migration page and are marked as such."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vggdeploy.backends.tensorrt.layer_precision import (
    dtype_of,
    gate_record,
    layer_precisions,
    onnx_nodes,
    precision_verdict,
)

FIXTURES = Path(__file__).parent / "fixtures"
MNIST_FP32 = FIXTURES / "trt10.16.1-h100-mnist-fp32.trtexec.json"
RESNET_FP16 = FIXTURES / "trt8-a100-resnet18-fp16.trex.json"
MOBILENET_INT8 = FIXTURES / "trt8-mobilenetv2-qat-int8.trex.json"
# The MNIST model's ONNX compute nodes, from the cookbook's verbose parser log ("Parsing node:
# node_conv2d [Conv]", ... "node_linear [Gemm]", "node_linear_1 [Gemm]"; fixtures/README.md).
MNIST_COMPUTE = {"node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"}


def _read(path: Path) -> str:
    return path.read_text()


@pytest.mark.parametrize(
    ("text", "dtype"),
    [  # every "Format/Datatype" spelling in the fixtures, and the documented 11.x "DataType"s
        ("Float", "fp32"),
        ("Int32", "int32"),
        ("Int64", "int64"),
        ("Row major linear FP32", "fp32"),
        ("Row major linear FP16 format", "fp16"),
        ("Channel major FP16 format where channel % 4 == 0", "fp16"),
        ("Two wide channel vectorized row major FP16 format", "fp16"),
        ("Thirty-two wide channel vectorized row major FP16 format", "fp16"),
        ("Thirty-two wide channel vectorized row major FP32 format", "fp32"),
        ("Four wide channel vectorized row major Int8 format", "int8"),
        ("Thirty-two wide channel vectorized row major Int8 format", "int8"),
        ("Half", "fp16"),
        ("Int8", "int8"),
        ("BFloat16", "bf16"),
        ("N/A due to dynamic shapes", None),
        ("", None),
    ],
)
def test_dtype_of(text, dtype):
    assert dtype_of(text) == dtype


def test_untrimmed_fixture_is_the_cited_file():
    """fixtures/README.md cites this file byte for byte (sha256 there)."""
    digest = hashlib.sha256(MNIST_FP32.read_bytes()).hexdigest()
    assert digest == "5325208236eb1b077a9487ead92536dc724cf02d40d11a7752f40143702dd9a7"
    assert digest in (FIXTURES / "README.md").read_text()


def test_every_fixture_type_string_is_understood():
    """No tensor type in the real outputs goes unread (a new spelling would show up here)."""
    for path in (MNIST_FP32, RESNET_FP16, MOBILENET_INT8):
        for layer in json.loads(_read(path))["Layers"]:
            for t in (*layer["Inputs"], *layer["Outputs"]):
                assert dtype_of(t["Format/Datatype"]) is not None, (path.name, t)


def test_trt10_16_fp32_engine_layers():
    summary = layer_precisions(_read(MNIST_FP32))
    assert summary["format"] == "10.x" and summary["detailed"]
    rows = {r["name"]: r for r in summary["layers"]}
    compute = [r["name"] for r in summary["layers"] if r["compute"]]
    assert compute == [
        "node_conv2d + node_relu",
        "node_conv2d_1 + node_relu_1",
        "node_linear_myl4_0",
    ]
    assert (
        rows["node_max_pool2d"]["type"] == "CaskPooling" and not rows["node_max_pool2d"]["compute"]
    )
    assert rows["node_linear_myl4_0"]["onnx_nodes"] == ["node_linear", "node_relu_2"]  # \x1f
    assert rows["node_conv2d + node_relu"]["onnx_nodes"] == ["node_conv2d", "node_relu"]  # \x1e
    assert rows["__myl_MulSum_myl4_1"]["onnx_nodes"] == ["node_linear_1"]
    assert rows["__myl_CastReshCast_myl4_4"]["onnx_nodes"] == []  # "Metadata": ""
    assert rows["__myl_DivMulMaxr_myl4_3"]["outputs"] == ["fp32", "int32"]
    verdict = precision_verdict(summary, "fp32")
    assert verdict["ok"] is True and verdict["precisions"] == {"fp32": 3}


def test_trt10_16_fp32_engine_passes_as_fp32_and_is_refused_as_fp16():
    text = _read(MNIST_FP32)
    good = gate_record(text, "fp32", compute_nodes=MNIST_COMPUTE)
    assert good["status"] == "ok" and good["fallback"] == [] and "unchecked" not in good
    bad = gate_record(text, "fp16", compute_nodes=MNIST_COMPUTE)
    assert bad["status"] == "fallback"
    assert bad["fallback"] == [
        {"name": "node_conv2d + node_relu", "precision": "fp32"},
        {"name": "node_conv2d_1 + node_relu_1", "precision": "fp32"},
        {"name": "node_linear_myl4_0", "precision": "fp32"},
    ]


def test_myelin_gemm_kept_fp32_by_its_onnx_name():
    """keep_fp32 names ONNX nodes; Myelin renames the layer ("node_linear_myl4_0"), so the gate
    must match through Metadata - a name split alone would refuse a deliberate FP32 layer."""
    keep = ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"]
    record = gate_record(_read(MNIST_FP32), "fp16", keep_fp32=keep, compute_nodes=MNIST_COMPUTE)
    assert record["status"] == "ok" and record["fallback"] == []
    assert record["kept_fp32"] == [
        "node_conv2d + node_relu",
        "node_conv2d_1 + node_relu_1",
        "node_linear_myl4_0",
    ]


def test_gemm_only_in_myelin_kgen_layers_is_not_passed_silently():
    """node_linear_1 (an ONNX Gemm) appears only in ``kgen`` layers reading Float: not a typed
    compute layer, so neither refused nor ok - unknown, naming it."""
    keep = ["node_conv2d", "node_conv2d_1", "node_linear"]
    record = gate_record(_read(MNIST_FP32), "fp16", keep_fp32=keep, compute_nodes=MNIST_COMPUTE)
    assert record["status"] == "unknown" and record["fallback"] == []
    assert [u["name"] for u in record["unchecked"]] == [
        "__myl_MulSum_myl4_1",
        "__myl_AddMaxrSubExpSum_myl4_2",
    ]
    assert all(u["onnx_nodes"] == ["node_linear_1"] for u in record["unchecked"])
    assert "node_linear_1 in __myl_MulSum_myl4_1 (reads fp32)" in record["reason"]
    # without knowing the ONNX (compute_nodes) the gate cannot see it: the typed layers decide
    plain = gate_record(_read(MNIST_FP32), "fp16", keep_fp32=keep)
    assert plain["status"] == "ok" and "unchecked" not in plain


def test_trt8_fp16_resnet():
    text = _read(RESNET_FP16)
    summary = layer_precisions(text)
    assert summary["format"] == "10.x"  # "Bindings" + "Format/Datatype": the shape 10.x kept
    compute = [(r["name"], r["type"]) for r in summary["layers"] if r["compute"]]
    assert compute == [
        ("Conv_0 + Relu_1", "CaskConvolution"),
        ("Conv_5 + Add_6 + Relu_7", "CaskConvolution"),
        ("Gemm_48", "CaskConvolution"),  # the classifier Gemm runs as a convolution
    ]
    reformat = summary["layers"][0]
    assert reformat["inputs"] == ["fp32"] and reformat["outputs"] == ["fp16"]
    assert gate_record(text, "fp16")["status"] == "ok"
    for other in ("fp32", "int8"):
        record = gate_record(text, other)
        assert record["status"] == "fallback" and record["precisions"] == {"fp16": 3}


def test_trt8_int8_mobilenet_with_fp16_pooling():
    """A QAT engine: every convolution reads Int8; pooling and Q/DQ reformats run in FP16 /
    FP32 - not compute layers, so no fallback."""
    text = _read(MOBILENET_INT8)
    record = gate_record(text, "int8", compute_nodes={"Conv_12", "Conv_29", "Conv_46", "Gemm_864"})
    assert record["status"] == "ok", record
    assert record["compute_layers"] == 4 and record["precisions"] == {"int8": 4}
    types = {name: (kind, precision) for name, kind, precision in record["layers"]}
    assert types["GlobalAveragePool_843"] == ("TiledPooling", "fp16")
    assert types["QuantizeLinear_2"] == ("Reformat", "int8")
    refused = gate_record(text, "fp16")
    assert refused["status"] == "fallback" and len(refused["fallback"]) == 4


def test_fused_names_without_metadata_are_split():
    """8.x writes no Metadata: keep_fp32 matches a part of the fused name (weights and PWN(...)
    included), and a horizontal fusion "A + B || C + D" (the name shape of NVIDIA/TensorRT#3737)
    counts as kept only when each of its compute nodes is."""
    text = _read(MOBILENET_INT8)
    record = gate_record(text, "fp16", keep_fp32=["Conv_12"])
    assert "features.0.0.weight + QuantizeLinear_8 + Conv_12 + PWN(Clip_16)" in record["kept_fp32"]
    assert len(record["fallback"]) == 3
    layer = json.loads(text)["Layers"][1]
    both = "/m/cv2/conv/Conv + /m/cv2/act/Relu || /m/cv3/conv/Conv + /m/cv3/act/Relu"
    engine = json.dumps({"Layers": [{**layer, "Name": both}], "Bindings": []})
    nodes = {"/m/cv2/conv/Conv", "/m/cv3/conv/Conv"}
    one = gate_record(engine, "fp16", keep_fp32=["/m/cv2/conv/Conv"], compute_nodes=nodes)
    assert one["status"] == "fallback"
    two = gate_record(engine, "fp16", keep_fp32=sorted(nodes), compute_nodes=nodes)
    assert two["status"] == "ok" and two["kept_fp32"] == [both]


def test_onnx_nodes_from_metadata():
    assert onnx_nodes({"Metadata": "[ONNX Layer: a]\x1e[ONNX Layer: b]"}) == ["a", "b"]
    assert onnx_nodes({"Metadata": "[ONNX Layer: (Unnamed Layer* 2) [Shuffle]]"}) == [
        "(Unnamed Layer* 2) [Shuffle]"
    ]
    assert onnx_nodes({"Metadata": ""}) == [] and onnx_nodes({}) == []


def test_names_only_engine_cannot_tell():
    names = [layer["Name"] for layer in json.loads(_read(MNIST_FP32))["Layers"]]
    record = gate_record(json.dumps({"Layers": names, "Bindings": ["x", "y", "z"]}), "fp16")
    assert record["status"] == "unknown" and "DETAILED" in record["reason"]


def test_not_inspector_json():
    with pytest.raises(ValueError, match="Layers"):
        layer_precisions('{"Bindings": []}')
    with pytest.raises(ValueError, match="unknown precision"):
        precision_verdict(layer_precisions(_read(MNIST_FP32)), "int4")
    record = gate_record("{not json", "fp16")
    assert record["status"] == "unknown" and "unreadable" in record["reason"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(["Name", "LayerType", "ParameterType", "Inputs", "Outputs", "Metadata"])
_tensor = st.dictionaries(
    st.sampled_from(["Name", "Format/Datatype", "DataType"]), _json, max_size=3
)
_layer = st.dictionaries(_keys, _json | st.lists(_tensor, max_size=3))


@settings(max_examples=120, deadline=None)
@given(
    layers=st.lists(_layer | _json, max_size=5),
    io=st.sampled_from(["Bindings", "I/O Tensors", None]),
    requested=st.sampled_from(["fp32", "fp16", "int8"]),
)
def test_any_malformed_inspector_output_gives_a_verdict_never_a_crash(layers, io, requested):
    """Whatever TensorRT (or a damaged plan) prints, the gate answers ok / fallback / unknown and
    only says "ok" when some typed compute layer was read in the requested precision."""
    data = {"Layers": layers, **({io: []} if io else {})}
    record = gate_record(json.dumps(data), requested)
    assert record["status"] in {"ok", "fallback", "unknown"}
    if record["status"] == "ok":
        assert record["compute_layers"] >= 1 and record["precisions"].get(requested, 0) >= 1
    json.dumps(record)  # the sidecar can hold it


# ---- TensorRT 11.x: NO real output is public (fixtures/README.md). Hand-written after NVIDIA's
# migration page: "I/O Tensors" objects, per-tensor "DataType" + "Format". -----------------------


def _t11(name: str, dtype: str) -> dict:
    return {"Name": name, "Location": "Device", "Dimensions": [-1, 8, 32, 32], "DataType": dtype,
            "Format": "Row major linear format (kLINEAR)"}  # fmt: skip


def _engine11(conv2_dtype: str) -> str:
    layers = [
        {"Name": "node_Conv_55 + node_relu", "LayerType": "CaskConvolution",
         "Inputs": [_t11("input", "Half")], "Outputs": [_t11("relu", "Half")],
         "ParameterType": "Convolution", "Metadata": "[ONNX Layer: node_Conv_55]"},
        {"Name": "node_Conv_56 + node_relu_1", "LayerType": "CaskConvolution",
         "Inputs": [_t11("relu", conv2_dtype)], "Outputs": [_t11("relu_1", "Half")],
         "ParameterType": "Convolution", "Metadata": "[ONNX Layer: node_Conv_56]"},
    ]  # fmt: skip
    io = [
        {"Name": "input", "IOMode": "Input", "DataType": "Float", "Dimensions": [-1, 1, 32, 32]},
        {"Name": "logits", "IOMode": "Output", "DataType": "Float", "Dimensions": [-1, 10]},
    ]
    return json.dumps({"Layers": layers, "I/O Tensors": io})


def test_tensorrt11_shape_hand_written():
    good = gate_record(_engine11("Half"), "fp16")
    assert good["inspector_format"] == "11.x" and good["status"] == "ok"
    bad = gate_record(_engine11("Float"), "fp16")
    assert bad["status"] == "fallback"
    assert bad["fallback"] == [{"name": "node_Conv_56 + node_relu_1", "precision": "fp32"}]
