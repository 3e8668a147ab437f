"""The engine precision gate of `build-engine`, under the recording double (10.x and 11.x).

The double's inspector answers in its flavour's JSON shape (10.x "Bindings" + "Format/Datatype",
11.x "I/O Tensors" + "DataType"), with each compute layer in the precision its ONNX operands give
(trt_double.onnx_layers); ``recorder.fallback`` leaves chosen layers in FP32, as TensorRT does
when it finds no tactic in the requested precision. What is proven: the build reads the inspector,
records the per-layer verdict in the sidecar, refuses a fallback (exit 7, nothing written) unless
--allow-fallback, and `inspect` shows the verdict. Not proven: what a real TensorRT build chooses
(tests/gpu), nor the real inspector text beyond the documented shapes.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import onnx
import pytest
from trt_double import make_tensorrt, onnx_layers

from vggdeploy.backends.tensorrt import build_engine, env
from vggdeploy.backends.tensorrt.describe import engine_lines, inspect_engine
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, read_sidecar, sidecar_path
from vggdeploy.cli import main
from vggdeploy.errors import VerificationError

FAKE_GPU = DeviceInfo("NVIDIA Fake A100", (8, 0))
SIZES = ["--min-batch", "1", "--opt-batch", "8", "--max-batch", "16"]


@pytest.fixture(params=["10", "11"], ids=["trt10", "trt11"])
def trt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    fake = make_tensorrt(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: FAKE_GPU)
    return fake


def _compute(onnx_file: Path) -> list[str]:
    return [name for name, _, _ in onnx_layers(onnx.load(str(onnx_file)))]


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
    onnx_file = run / ("model.onnx" if precision == "fp32" else f"model.{precision}.onnx")
    n = len(_compute(onnx_file))
    assert n == 10  # the tiny VGG: 8 Conv + 2 Gemm
    assert record["status"] == "ok" and record["requested"] == precision
    assert record["inspector_format"] == ("10.x" if trt.__version__.startswith("10.") else "11.x")
    assert record["precisions"] == {precision: n} and record["fallback"] == []
    assert [row[0] for row in record["layers"]] == _compute(onnx_file)
    assert {row[2] for row in record["layers"]} == {precision}
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"layer precision   ok: compute layers run in {precision} ({n} compute layers" in shown


def test_fallen_back_conv_refuses_the_build_and_writes_nothing(trt, run, tmp_path, capsys):
    conv = _compute(run / "model.fp16.onnx")[1]
    trt.recorder.fallback = {conv}
    engines = tmp_path / "engines"
    engines.mkdir()
    out = engines / "tiny.fp16.engine"
    code = main(["build-engine", str(run / "model.onnx"), "--fp16", *SIZES, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 7, err
    assert f"{conv} (fp32)" in err and "--allow-fallback" in err and "--keep-fp32" in err
    assert list(engines.iterdir()) == []  # no engine, no sidecar, no temp file


def test_allow_fallback_builds_and_the_sidecar_lists_the_fallback(trt, run, tmp_path, capsys):
    conv = _compute(run / "model.int8.onnx")[0]
    trt.recorder.fallback = {conv}
    out = tmp_path / "tiny.int8.engine"
    args = ["build-engine", str(run / "model.onnx"), "--int8", *SIZES, "--allow-fallback"]
    assert main([*args, "-o", str(out)]) == 0
    capsys.readouterr()
    data = read_sidecar(out).data
    record = data["layer_precision"]
    assert record["status"] == "fallback" and record["allow_fallback"] is True
    assert record["fallback"] == [{"name": conv, "precision": "fp32"}]
    assert record["precisions"] == {"fp32": 1, "int8": 9}
    assert "--allow-fallback" in data["build"]["command"]  # the rebuild command builds again
    assert main(["inspect", str(out)]) == 0
    assert "FALLBACK accepted with --allow-fallback" in capsys.readouterr().out


def test_library_refuses_too(trt, run, tmp_path):
    trt.recorder.fallback = set(_compute(run / "model.fp16.onnx"))
    out = tmp_path / "x.engine"
    with pytest.raises(VerificationError, match="does not compute in fp16"):
        build_engine(run / "model.onnx", out, precision="fp16", max_batch=16)
    assert not out.exists() and not sidecar_path(out).exists()


def test_layer_kept_fp32_by_the_onnx_is_not_a_fallback(trt, run, tmp_path):
    """A layer the export kept FP32 on purpose (--keep-fp32, recorded in the ONNX) passes."""
    fp16 = run / "model.fp16.onnx"
    conv = _compute(fp16)[2]
    model = onnx.load(str(fp16))
    model.metadata_props.add(key="vggdeploy.keep_fp32", value=json.dumps([conv]))
    onnx.save(model, str(fp16))
    trt.recorder.fallback = {conv}
    sidecar = build_engine(fp16, tmp_path / "x.engine", max_batch=16)
    record = sidecar["layer_precision"]
    assert record["status"] == "ok" and record["fallback"] == [] and record["kept_fp32"] == [conv]
    assert record["precisions"] == {"fp16": 9, "fp32": 1}


def test_no_inspector_detail_is_recorded_unknown_with_a_warning(trt, run, tmp_path, caplog):
    trt.recorder.fail = {"deserialize_cuda_engine"}  # the plan cannot be inspected
    with caplog.at_level(logging.WARNING, logger="vggdeploy.tensorrt"):
        sidecar = build_engine(run / "model.onnx", tmp_path / "x.engine", max_batch=16)
    record = sidecar["layer_precision"]
    assert record["status"] == "unknown" and "deserialize" in record["reason"]
    assert "could not check" in caplog.text
    info = inspect_engine(tmp_path / "x.engine")
    assert any(line.startswith("layer precision   unknown:") for line in engine_lines(info))
