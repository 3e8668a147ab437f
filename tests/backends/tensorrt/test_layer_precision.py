"""Per-layer precision from the engine inspector's JSON, TensorRT 10.x and 11.x shapes.

The snippets follow NVIDIA's documented shapes ("Engine Inspector" in the developer guide; the
10.x -> 11.x IEngineInspector migration page: "Bindings" -> "I/O Tensors", and the combined
"Format/Datatype" string split into "DataType" + "Format"), trimmed to the keys that matter."""

from __future__ import annotations

import json

import pytest

from vggdeploy.backends.tensorrt.layer_precision import (
    dtype_of,
    layer_precisions,
    precision_verdict,
)


def _t10(name: str, fmt: str) -> dict:
    return {
        "Name": name,
        "Location": "Device",
        "Dimensions": [-1, 8, 32, 32],
        "Format/Datatype": fmt,
    }


def _t11(name: str, dtype: str, fmt: str = "Row major linear format (kLINEAR)") -> dict:
    return {"Name": name, "Location": "Device", "Dimensions": [-1, 8, 32, 32], "DataType": dtype,
            "Format": fmt}  # fmt: skip


def _conv(name: str, inp: dict, out: dict, tactic: str = "") -> dict:
    return {"Name": name, "LayerType": "CaskConvolution", "Inputs": [inp], "Outputs": [out],
            "ParameterType": "Convolution", "TacticName": tactic, "StreamId": 0,
            "Metadata": f"[ONNX Layer: {name}]"}  # fmt: skip


def _engine10(conv2_fmt: str) -> str:
    layers = [
        {"Name": "Reformatting CopyNode for Input Tensor 0", "LayerType": "Reformat",
         "Inputs": [_t10("input", "Row major linear FP32 format")],
         "Outputs": [_t10("input_q", "Row major Int8 format")], "ParameterType": "Reformat"},
        _conv("node_Conv_55 + node_relu", _t10("input_q", "Row major Int8 format"),
              _t10("relu", "Channel major INT8 format where channel % 32 == 0"),
              "sm80_xmma_fprop_implicit_gemm_interleaved_i8i8_i8i32_f32"),
        _conv("node_Conv_56 + node_relu_1", _t10("relu", conv2_fmt),
              _t10("relu_1", "Row major linear FP32 format")),
        {"Name": "node_linear", "LayerType": "CaskGemmConvolution",
         "Inputs": [_t10("view", "Int8")], "Outputs": [_t10("logits", "Float")],
         "ParameterType": "Convolution"},
    ]  # fmt: skip
    return json.dumps({"Layers": layers, "Bindings": ["input", "logits"]})


def _engine11(conv2_dtype: str) -> str:
    layers = [
        _conv("node_Conv_55 + node_relu", _t11("input", "Half"), _t11("relu", "Half")),
        _conv("node_Conv_56 + node_relu_1", _t11("relu", conv2_dtype), _t11("relu_1", "Half")),
        {"Name": "node_linear", "LayerType": "gemm", "Inputs": [_t11("view", "Half")],
         "Outputs": [_t11("logits", "Float")], "ParameterType": "MatrixMultiply"},
    ]  # fmt: skip
    io = [
        {"Name": "input", "IOMode": "Input", "DataType": "Float", "Dimensions": [-1, 1, 32, 32]},
        {"Name": "logits", "IOMode": "Output", "DataType": "Float", "Dimensions": [-1, 10]},
    ]
    return json.dumps({"Layers": layers, "I/O Tensors": io})


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("Row major linear FP32 format", "fp32"),
        ("Channel major FP16 format where channel % 8 == 0", "fp16"),
        ("Half", "fp16"),
        ("Float", "fp32"),
        ("Int8", "int8"),
        ("Four wide channel vectorized row major Int8 format", "int8"),
        ("BFloat16", "bf16"),
        ("UInt8", "uint8"),
        ("", None),
    ],
)
def test_dtype_of(text, dtype):
    assert dtype_of(text) == dtype


def test_tensorrt10_int8_engine_all_int8():
    summary = layer_precisions(_engine10("Channel major INT8 format where channel % 32 == 0"))
    assert summary["format"] == "10.x" and summary["detailed"]
    compute = [r for r in summary["layers"] if r["compute"]]
    assert [r["precision"] for r in compute] == ["int8", "int8", "int8"]
    reformat = summary["layers"][0]
    assert not reformat["compute"] and reformat["inputs"] == ["fp32"]
    verdict = precision_verdict(summary, "int8")
    assert verdict["ok"] is True and verdict["fallback"] == []
    assert verdict["precisions"] == {"int8": 3}


def test_tensorrt10_int8_engine_with_a_fp32_fallback_is_refused():
    verdict = precision_verdict(layer_precisions(_engine10("Row major linear FP32 format")), "int8")
    assert verdict["ok"] is False
    assert verdict["fallback"] == [{"name": "node_Conv_56 + node_relu_1", "precision": "fp32"}]


def test_tensorrt11_fp16_engine_both_outcomes():
    good = layer_precisions(_engine11("Half"))
    assert good["format"] == "11.x"
    assert precision_verdict(good, "fp16")["ok"] is True
    bad = precision_verdict(layer_precisions(_engine11("Float")), "fp16")
    assert bad["ok"] is False and [f["name"] for f in bad["fallback"]] == [
        "node_Conv_56 + node_relu_1"
    ]
    # the same FP16 engine does not pass as INT8
    assert precision_verdict(good, "int8")["ok"] is False


def test_names_only_engine_cannot_tell():
    summary = layer_precisions(
        {"Layers": ["node_Conv_55 + node_relu", "node_linear"], "Bindings": []}
    )
    verdict = precision_verdict(summary, "int8")
    assert summary["detailed"] is False and verdict["ok"] is None
    assert "DETAILED" in verdict["reason"]


def test_not_inspector_json():
    with pytest.raises(ValueError, match="Layers"):
        layer_precisions('{"Bindings": []}')
    with pytest.raises(ValueError, match="unknown precision"):
        precision_verdict(layer_precisions(_engine11("Half")), "int4")
