"""FP16 and INT8 variants: structure, verification, calibration (train split only, cached)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vggdeploy.artifacts.checkpoint import read_spec
from vggdeploy.backends.base import open_runner
from vggdeploy.cli import main
from vggdeploy.errors import DataError, UsageError, VerificationError
from vggdeploy.export.fp16 import FP16_MAX, FP32_OPS, convert_fp16, fp16_range_check
from vggdeploy.export.pipeline import Tolerance, export_variants, parse_precisions
from vggdeploy.export.quantize import DEFAULT_CALIB_METHOD, calibrate, calibration_images

from conftest import VARIANTS_EXPORT


@pytest.fixture
def variants(exported_variants):
    return exported_variants


def _not_exported(*_a, **_k):
    raise AssertionError("the FP32 exporter ran, but model.onnx was up to date")


def _train_only(fake_data: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in fake_data.iterdir():
        if f.name.startswith("train-"):
            shutil.copy(f, dst / f.name)
    return dst


def test_all_variants_written_with_reports(variants):
    assert set(variants) == {"fp32", "fp16", "int8", "int8-cpu"}
    run = variants["fp32"].path.parent
    for tag, name in [("fp16", "model.fp16.onnx"), ("int8", "model.int8.onnx")]:
        assert variants[tag].path == run / name
    for result in variants.values():
        report = json.loads(result.report_path.read_text())
        assert report["written"] is True
    for tag in ("fp16", "int8", "int8-cpu"):
        ts = variants[tag].report["verification"]["test_set"]
        assert ts["n"] == 256 and 0.0 <= ts["out_accuracy"] <= 1.0
        assert ts["accuracy_drop_pt"] == pytest.approx(
            100 * (ts["fp32_onnx_accuracy"] - ts["out_accuracy"])
        )
        assert ts["top1_agreement"] >= 0.9


def test_fp16_structure(variants):
    m = onnx.load(str(variants["fp16"].path))
    assert m.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    float_inits = [i for i in m.graph.initializer if i.data_type in (1, 10)]
    assert float_inits and all(i.data_type == TensorProto.FLOAT16 for i in float_inits)
    assert [n.op_type for n in m.graph.node].count("Cast") == 2  # one per edge
    x = np.random.default_rng(0).normal(size=(3, 1, 32, 32)).astype(np.float32)
    with (
        open_runner("onnxruntime", m) as r16,
        open_runner("onnxruntime", variants["fp32"].path) as r32,
    ):
        out16, out32 = r16.infer(x), r32.infer(x)
    np.testing.assert_allclose(out16, out32, atol=5e-2, rtol=5e-2)


def test_fp16_keeps_listed_ops_in_fp32():
    assert "Softmax" in FP32_OPS
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Softmax", ["h"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    half = convert_fp16(model)
    onnx.checker.check_model(half, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(half)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    softmax = next(n for n in half.graph.node if n.op_type == "Softmax")
    matmul = next(n for n in half.graph.node if n.op_type == "MatMul")
    assert types[softmax.input[0]] == TensorProto.FLOAT
    assert types[matmul.output[0]] == TensorProto.FLOAT16


def test_fp16_range_warning(variants, fake_data):
    """A first Conv scaled by 1e7 drives its output far beyond the FP16 range."""
    fp32 = onnx.load(str(variants["fp32"].path))
    x = calibration_images(read_spec(variants["fp32"].path.parent), fake_data, 8)
    assert fp16_range_check(fp32, x)["tensors_beyond_fp16"] == {}
    conv = next(n for n in fp32.graph.node if n.op_type == "Conv")
    weight = next(i for i in fp32.graph.initializer if i.name == conv.input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1e7, weight.name))
    report = fp16_range_check(fp32, x)
    assert conv.output[0] in report["tensors_beyond_fp16"]
    assert report["max_abs_activation"] > FP16_MAX and report["samples"] == 8


def _qdq(path: Path):
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return m, inits


def test_int8_tensorrt_placement(variants):
    m, inits = _qdq(variants["int8"].path)
    ops = [n.op_type for n in m.graph.node]
    assert "QLinearConv" not in ops and ops.count("QuantizeLinear") == 10  # 8 Conv + 2 Gemm
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2:
            zp = inits[n.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), "TensorRT needs symmetric int8"
        if n.op_type == "Conv" or n.op_type == "Gemm":
            bias = n.input[2]
            assert bias in inits and inits[bias].dtype == np.float32  # bias stays FP32
    weight_dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert len(weight_dq) == 10
    for n in weight_dq:
        w, scale = inits[n.input[0]], inits[n.input[1]]
        assert w.dtype == np.int8 and scale.shape == (w.shape[0],)  # per output channel
        assert next(a.i for a in n.attribute if a.name == "axis") == 0


def test_int8_cpu_form(variants):
    m, inits = _qdq(variants["int8-cpu"].path)
    act_zp = [inits[n.input[2]] for n in m.graph.node if n.op_type == "QuantizeLinear"]
    assert act_zp and all(z.dtype == np.uint8 for z in act_zp)  # U8 activations, S8 weights
    w = [
        inits[n.input[0]]
        for n in m.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits
    ]
    assert sum(a.dtype == np.int8 for a in w) == 10  # Conv/Gemm weights; biases are int32
    assert all(a.dtype in (np.int8, np.int32) for a in w)


def test_variant_metadata(variants):
    for tag in ("fp16", "int8", "int8-cpu"):
        props = {p.key: p.value for p in onnx.load(str(variants[tag].path)).metadata_props}
        assert props["vggdeploy.precision"] == tag
        assert "vggdeploy.modelspec" in props and "vggdeploy.checkpoint_sha256" in props


def test_calibration_cache_reused_and_keyed(variants, fake_data, tmp_path):
    run = tmp_path / "run"  # a copy: the session's run folder stays as exported
    shutil.copytree(variants["fp32"].path.parent, run)
    base = run / "model.onnx"
    spec = read_spec(run)
    method = DEFAULT_CALIB_METHOD
    cache = run / f"calibration-{method}.json"
    assert json.loads(cache.read_text())["key"]["split"] == "train"
    calib = calibration_images(spec, fake_data, 64)
    path, key = calibrate(
        base.read_bytes(),
        calib,
        method=method,
        cache_dir=run,
        input_name="input",
        log=lambda m: None,
    )
    path.unlink()
    assert key["reused"] is True and key["size"] == 64
    other = calibration_images(spec, fake_data, 32)  # other data -> recalibrate, rewrite
    path, key = calibrate(
        base.read_bytes(),
        other,
        method=method,
        cache_dir=run,
        input_name="input",
        log=lambda m: None,
    )
    path.unlink()
    assert key["reused"] is False
    assert json.loads(cache.read_text())["key"]["size"] == 32


def test_calibration_never_reads_test_split(variants, fake_data, tmp_path, monkeypatch):
    import vggdeploy.data

    requested: list[str] = []
    real = vggdeploy.data.load_split

    def recording(split, *a, **k):
        requested.append(split)
        return real(split, *a, **k)

    monkeypatch.setattr(vggdeploy.data, "load_split", recording)
    run = tmp_path / "run"
    shutil.copytree(variants["fp32"].path.parent, run)
    for f in run.glob("calibration-*.json"):
        f.unlink()
    monkeypatch.setattr("vggdeploy.export.onnx.to_onnx", _not_exported)  # model.onnx is up to date
    only_train = _train_only(fake_data, tmp_path / "train-only")  # no test files at all
    out = export_variants(
        run,
        precisions="int8",
        verify=False,
        data_dir=only_train,
        **{**VARIANTS_EXPORT, "calib_size": 32},
    )
    assert out["int8"].path.is_file() and out["int8-cpu"].path.is_file()
    assert requested and set(requested) == {"train"}


def test_calibration_data_not_found(tiny_run, tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    code = main(["export", str(tiny_run), "--precision", "int8", "--data-dir", str(empty)])
    assert code == DataError.exit_code
    assert list(tiny_run.glob("*.onnx")) == []  # failed before anything was written


def test_variant_failing_accuracy_is_not_written(variants, fake_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(variants["fp32"].path.parent, run)
    (run / "model.int8.onnx").unlink()
    monkeypatch.setattr("vggdeploy.export.onnx.to_onnx", _not_exported)  # model.onnx is up to date
    strict = Tolerance(atol=None, rtol=None, max_accuracy_drop_pt=-100.0)  # impossible
    import vggdeploy.export.judge as check

    monkeypatch.setitem(check.TOLERANCES, "int8", strict)
    monkeypatch.setattr(check, "NOISE_IMAGES", -1000)
    with pytest.raises(VerificationError, match="below FP32"):
        export_variants(
            run,
            precisions="int8",
            targets=("tensorrt",),
            data_dir=fake_data,
            **{**VARIANTS_EXPORT, "calib_size": 32},
        )
    assert not (run / "model.int8.onnx").exists()
    assert json.loads((run / "model.int8.report.json").read_text())["written"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"precisions": "fp8"},
        {"precisions": "int8", "calib_size": 0},
        {"precisions": "int8", "calib_method": "magic"},
        {"precisions": "int8", "targets": ("gpu",)},
    ],
)
def test_bad_variant_arguments(tiny_run, kwargs):
    with pytest.raises(UsageError):
        export_variants(tiny_run, **kwargs)


def test_parse_precisions():
    assert parse_precisions("all") == ("fp32", "fp16", "int8")
    assert parse_precisions("int8,fp16") == ("int8", "fp16")


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_calibration_collects_in_passes_within_the_memory_budget(
    variants, fake_data, tmp_path, monkeypatch, method
):
    """ORT's calibrators hold every tensor of one collect_data() call in memory (512 d2l-vgg11
    images: ~30 GB, OOM on a 24 GiB machine). With a budget of a few images' tensors, no call
    gets more images than fit, and the ranges are those of one pass: equal for minmax (min/max
    merge exactly), close for the histogram methods (the first pass fixes the bin width)."""
    import onnxruntime.quantization.calibrate as ort_calibrate

    import vggdeploy.export.quantize as quantize

    fp32 = variants["fp32"].path.read_bytes()
    calib = calibration_images(read_spec(variants["fp32"].path.parent), fake_data, 48)

    def ranges(budget: int | None) -> tuple[dict, list[int]]:
        calls: list[int] = []
        with monkeypatch.context() as m:
            for cls in (ort_calibrate.MinMaxCalibrater, ort_calibrate.HistogramCalibrater):
                real = cls.collect_data

                def spy(self, reader, real=real):  # count the images, then ORT's own code
                    calls.append(sum(len(b["input"]) for b in iter(reader.get_next, None)))
                    reader.rewind()
                    return real(self, reader)

                m.setattr(cls, "collect_data", spy)
            if budget is not None:
                m.setattr(quantize, "COLLECT_BUDGET_BYTES", budget)
            cache = tmp_path / f"cache-{budget}"
            cache.mkdir()
            path, _ = calibrate(fp32, calib, method=method, cache_dir=cache,
                                input_name="input", log=lambda _m: None)  # fmt: skip
        data = ort_calibrate.load_tensors_data(path)
        path.unlink()
        return {name: tuple(map(float, np.ravel(data[name].range_value))) for name in data}, calls

    whole, one_call = ranges(None)
    assert one_call == [48]  # a small model: the whole set in one call, as before the budget
    chunked, calls = ranges(1)  # below one image's tensors: one image per call
    assert calls == [1] * 48
    assert whole.keys() == chunked.keys()
    for name, (lo, hi) in whole.items():
        lo2, hi2 = chunked[name]
        if method == "minmax":
            np.testing.assert_allclose([lo2, hi2], [lo, hi], rtol=1e-6, err_msg=name)
        else:
            span = max(abs(lo), abs(hi), 1e-6)
            assert abs(hi2 - hi) <= 0.05 * span and abs(lo2 - lo) <= 0.05 * span, name
