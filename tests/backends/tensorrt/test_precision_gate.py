"""The engine precision gate of `build-engine`, end to end on the recording double (10.x and 11.x).

The double builds nothing; its engine inspector replays REAL engines' JSON (fixtures/, sources in
its README): by default the recorded engine of the precision the ONNX declares (TensorRT 10.16.1
FP32 MNIST; 8.x FP16 ResNet-18; 8.x QAT INT8 MobileNetV2), or the one a test puts in
``recorder.inspector`` - an FP32 engine for an fp16 build is what a fallback really looks like.
The ONNX files come from the real export stage (conftest: ``export --precision all``).

What is proven: the build reads the inspector of the plan it made, judges it with the requested
precision and the ONNX's keep-FP32 list and compute nodes, records the verdict in the sidecar,
refuses a fallback (exit 7, nothing written) unless --allow-fallback, and `inspect` shows it.
Expected layer names and counts are read from the fixture files, never computed by the double.
Not proven: what a real build of vggdeploy's VGG chooses (tests/gpu), the real 11.x JSON shape.
"""

from __future__ import annotations

import json
import logging
import sys

import onnx
import pytest
from trt_double import INSPECTOR_FIXTURES, make_tensorrt

from vggdeploy.backends.tensorrt import build_engine, env, gate
from vggdeploy.backends.tensorrt.describe import engine_lines, inspect_engine, layer_precision_lines
from vggdeploy.backends.tensorrt.sidecar import (
    DeviceInfo,
    read_sidecar,
    schema_problem,
    sidecar_path,
)
from vggdeploy.cli import main
from vggdeploy.errors import VerificationError

FAKE_GPU = DeviceInfo("NVIDIA Fake A100", (8, 0))
SIZES = ["--min-batch", "1", "--opt-batch", "8", "--max-batch", "16"]
# Compute layers (CaskConvolution / Myelin gemm) counted by eye in each fixture file.
FIXTURE_COMPUTE = {
    "fp32": ["node_conv2d + node_relu", "node_conv2d_1 + node_relu_1", "node_linear_myl4_0"],
    "fp16": ["Conv_0 + Relu_1", "Conv_5 + Add_6 + Relu_7", "Gemm_48"],
    "int8": [
        "features.0.0.weight + QuantizeLinear_8 + Conv_12 + PWN(Clip_16)",
        "features.1.conv.0.0.weight + QuantizeLinear_25 + Conv_29 + PWN(Clip_33)",
        "features.1.conv.1.weight + QuantizeLinear_42 + Conv_46",
        "classifier.1.weight + QuantizeLinear_860 + Gemm_864 + classifier.1.bias + (Unnamed "
        "Layer* 849) [Shuffle] + unsqueeze_node_after_classifier.1.bias + (Unnamed Layer* 849) "
        "[Shuffle]_(Unnamed Layer* 849) [Shuffle]_output + (Unnamed Layer* 850) [ElementWise]",
    ],
}


@pytest.fixture(params=["10", "11"], ids=["trt10", "trt11"])
def trt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    fake = make_tensorrt(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: FAKE_GPU)
    return fake


def _fixture_layers(precision: str) -> list[str]:
    return [
        layer["Name"] for layer in json.loads(INSPECTOR_FIXTURES[precision].read_text())["Layers"]
    ]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_in_the_requested_precision_is_built_and_recorded(
    trt, run, tmp_path, capsys, precision
):
    out = tmp_path / "engines" / "tiny.engine"
    flag = [] if precision == "fp32" else [f"--{precision}"]
    assert main(["build-engine", str(run / "model.onnx"), *flag, *SIZES, "-o", str(out)]) == 0
    built = capsys.readouterr().out
    assert f"layer precision   ok: compute layers run in {precision}" in built
    record = read_sidecar(out).data["layer_precision"]
    n = len(FIXTURE_COMPUTE[precision])
    assert record["status"] == "ok" and record["requested"] == precision
    assert record["inspector_format"] == "10.x"  # the replayed outputs are 10.x / 8.x JSON
    assert record["precisions"] == {precision: n} and record["fallback"] == []
    assert [row[0] for row in record["layers"]] == _fixture_layers(precision)
    assert [row[0] for row in record["layers"] if row[0] in FIXTURE_COMPUTE[precision]] == (
        FIXTURE_COMPUTE[precision]
    )
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"layer precision   ok: compute layers run in {precision} ({n} compute layers" in shown


def test_fp32_engine_for_an_fp16_build_is_refused_and_nothing_written(trt, run, tmp_path, capsys):
    trt.recorder.inspector = INSPECTOR_FIXTURES["fp32"].read_text()
    engines = tmp_path / "engines"
    engines.mkdir()
    out = engines / "tiny.fp16.engine"
    code = main(["build-engine", str(run / "model.onnx"), "--fp16", *SIZES, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 7, err
    for name in FIXTURE_COMPUTE["fp32"]:
        assert f"{name} (fp32)" in err
    assert "--allow-fallback" in err and "--keep-fp32" in err
    assert list(engines.iterdir()) == []  # no engine, no sidecar, no temp file


def test_allow_fallback_builds_and_the_sidecar_lists_the_fallback(trt, run, tmp_path, capsys):
    trt.recorder.inspector = INSPECTOR_FIXTURES["fp16"].read_text()  # an FP16 engine, asked int8
    out = tmp_path / "tiny.int8.engine"
    args = ["build-engine", str(run / "model.onnx"), "--int8", *SIZES, "--allow-fallback"]
    assert main([*args, "-o", str(out)]) == 0
    capsys.readouterr()
    data = read_sidecar(out).data
    record = data["layer_precision"]
    assert record["status"] == "fallback" and record["allow_fallback"] is True
    assert record["fallback"] == [{"name": n, "precision": "fp16"} for n in FIXTURE_COMPUTE["fp16"]]
    assert record["precisions"] == {"fp16": 3}
    assert "--allow-fallback" in data["build"]["command"]  # the rebuild command builds again
    assert main(["inspect", str(out)]) == 0
    assert "FALLBACK accepted with --allow-fallback" in capsys.readouterr().out


def test_library_refuses_too(trt, run, tmp_path):
    trt.recorder.inspector = INSPECTOR_FIXTURES["int8"].read_text()
    out = tmp_path / "x.engine"
    with pytest.raises(VerificationError, match="does not compute in fp16"):
        build_engine(run / "model.onnx", out, precision="fp16", max_batch=16)
    assert not out.exists() and not sidecar_path(out).exists()


def test_gate_gets_the_onnx_keep_list_and_compute_nodes(trt, run, tmp_path, fake_data, monkeypatch):
    """--keep-fp32 through the real export stage: the gate judges with the ONNX's recorded list
    and the ONNX's own Conv/Gemm nodes (whose matching on real names test_layer_precision.py
    covers - the replayed engines' layer names are not this model's)."""
    from vggdeploy.export.pipeline import export_variants

    fp32 = onnx.load(str(run / "model.onnx"))
    convs = [n.name for n in fp32.graph.node if n.op_type == "Conv"]
    export_variants(run, precisions="fp16", data_dir=fake_data, keep_fp32=[convs[1]], max_batch=16)
    seen = {}
    real = gate.gate_record

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(gate, "gate_record", spy)
    build_engine(run / "model.fp16.onnx", tmp_path / "x.engine", max_batch=16)
    assert list(seen["keep_fp32"]) == [convs[1]]
    fp16 = onnx.load(str(run / "model.fp16.onnx"))
    want = [n.name for n in fp16.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(want) == 10 and list(seen["compute_nodes"]) == want  # vgg-mini: 8 Conv + 2 Gemm


def test_unchecked_layers_fit_the_sidecar_schema(trt, run, tmp_path):
    """The 10.16 engine's Gemm seen only in Myelin kgen layers (status unknown, ``unchecked``)
    is a valid sidecar section."""
    sidecar = build_engine(run / "model.onnx", tmp_path / "x.engine", max_batch=16)
    record = gate.gate_record(
        INSPECTOR_FIXTURES["fp32"].read_text(),
        "fp16",
        keep_fp32=["node_conv2d", "node_conv2d_1", "node_linear"],
        compute_nodes=["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"],
    )
    assert record["status"] == "unknown" and record["unchecked"]
    assert schema_problem({**sidecar, "layer_precision": record}) is None
    line = layer_precision_lines(record)[0]
    assert line.startswith("layer precision   unknown: compute node(s) ran only in layers")
    assert "node_linear_1 in __myl_MulSum_myl4_1 (reads fp32)" in line


def test_no_inspector_detail_is_recorded_unknown_with_a_warning(trt, run, tmp_path, caplog):
    trt.recorder.fail = {"deserialize_cuda_engine"}  # the plan cannot be inspected
    with caplog.at_level(logging.WARNING, logger="vggdeploy.tensorrt"):
        sidecar = build_engine(run / "model.onnx", tmp_path / "x.engine", max_batch=16)
    record = sidecar["layer_precision"]
    assert record["status"] == "unknown" and "deserialize" in record["reason"]
    assert "could not check" in caplog.text
    info = inspect_engine(tmp_path / "x.engine")
    assert any(line.startswith("layer precision   unknown:") for line in engine_lines(info))
