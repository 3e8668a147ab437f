"""Acceptance: an INT8 variant with one quantization scale damaged (x50) is diagnosed --
debug-precision names the layer as the first divergent one, sensitivity ranks it first and keeping
it in FP32 restores the accuracy -- and the undamaged reports agree with the export stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from precision_runs import scale_calibration_range

from vggdeploy.artifacts.onnx_meta import META_KEEP_FP32, read_onnx_spec
from vggdeploy.artifacts.onnx_meta import recorded_keep_fp32 as recorded
from vggdeploy.backends.inspection import describe
from vggdeploy.data import load_split
from vggdeploy.debug import debug_precision
from vggdeploy.export.judge import TOLERANCES
from vggdeploy.export.keep import make_int8
from vggdeploy.export.pipeline import export_variants
from vggdeploy.export.quantize import DEFAULT_CALIB_METHOD, calibrate, calibration_images

FACTOR = 50.0


def _scale(model, tensor: str) -> float | None:
    """The QuantizeLinear scale of ``tensor`` (None: the tensor is not quantized)."""
    qs = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor]
    if not qs:
        return None
    q = qs[0]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return float(inits[q.input[1]])


@pytest.fixture(scope="module")
def damaged(debug_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the run whose model.int8.onnx has the input scale of its 4th Conv x50 (through
    the calibration cache, so re-quantizing reproduces the damage), and the ranges file."""
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(debug_run, run)
    fp32 = onnx.load(str(run / "model.onnx"))
    conv = [n for n in fp32.graph.node if n.op_type == "Conv"][3]
    tensor = conv.input[0]
    scale_calibration_range(run, tensor, FACTOR, DEFAULT_CALIB_METHOD)
    spec = read_onnx_spec(run / "model.onnx")
    images = calibration_images(spec, fake_data, 64)
    ranges, key = calibrate(
        (run / "model.onnx").read_bytes(),
        images,
        method=DEFAULT_CALIB_METHOD,
        cache_dir=run,
        input_name=spec.input.name,
        log=lambda _m: None,
    )
    assert key["reused"], "the damaged cache must be reused, not recalibrated"
    clean = onnx.load(str(run / "model.int8.onnx"))
    bad = make_int8(
        (run / "model.onnx").read_bytes(), ranges, target="tensorrt", method=DEFAULT_CALIB_METHOD
    )
    bad.metadata_props.extend(clean.metadata_props)
    onnx.save(bad, str(run / "model.int8.onnx"))
    assert _scale(bad, tensor) == pytest.approx(FACTOR * _scale(clean, tensor), rel=1e-5)
    yield run, conv.name, ranges
    ranges.unlink(missing_ok=True)


def test_damaged_layer_is_diagnosed_ranked_first_and_fixed(damaged, fake_data):
    run, layer, ranges = damaged
    result = debug_precision(
        run,
        precision="int8",
        target="tensorrt",
        images=128,
        data_dir=fake_data,
        sensitivity=True,
        min_agreement=0.98,
    )
    assert result["first_divergent"]["layer"] == layer
    assert result["growth_ranking"][0]["layer"] == layer
    assert result["output"]["agreement"] < 0.97  # the damage is visible at the output
    sens = result["sensitivity"]
    assert sens["layers"][0]["layer"] == layer and sens["layers"][0]["agreement"] >= 0.98
    assert sens["recommended_keep_fp32"] == [layer]
    assert sens["calibration"]["reused"] is True
    for path in result["files"].values():
        assert Path(path).is_file() and Path(path).parent == run / "debug"
    saved = json.loads((run / "debug" / "int8.json").read_text())
    assert saved["first_divergent"]["layer"] == layer
    md = (run / "debug" / "int8.md").read_text()
    assert "first divergent" in md
    assert "WARNING: model.int8.onnx no longer gives what the export stage measured" not in md
    # (128 images here, 256 in the export report: not comparable, so no warning)

    # export --keep-fp32 of that layer (same damaged calibration cache, reused) restores the
    # accuracy within the INT8 tolerance
    results = export_variants(
        run, precisions="int8", targets="tensorrt", keep_fp32=[layer], data_dir=fake_data,
        calib_size=64, max_batch=16, simplify=False,
    )  # fmt: skip
    report = results["int8"].report
    assert report["keep_fp32"] == [layer] and report["calibration"]["reused"] is True
    ts = report["verification"]["test_set"]
    assert ts["accuracy_drop_pt"] <= TOLERANCES["int8"].max_accuracy_drop_pt
    assert ts["top1_agreement"] >= 0.98
    fixed = onnx.load(str(run / "model.int8.onnx"))
    assert recorded(fixed) == [layer]
    assert _scale(fixed, [n for n in fixed.graph.node if n.name == layer][0].input[0]) is None
    meta = describe(run / "model.int8.onnx")["metadata"]  # `vggdeploy inspect` shows it
    assert json.loads(meta[META_KEEP_FP32]) == [layer]


@pytest.mark.parametrize(
    ("precision", "target"), [("fp16", "tensorrt"), ("int8", "tensorrt"), ("int8", "cpu")]
)
def test_reports_agree_with_the_export_stage(debug_run, fake_data, tmp_path, precision, target):
    n = len(load_split("test", fake_data))
    result = debug_precision(
        debug_run, precision=precision, target=target, images=n, data_dir=fake_data,
        out_dir=tmp_path,
    )  # fmt: skip
    exported = result["export_report"]
    assert exported["n"] == n
    assert result["output"]["accuracy"] == pytest.approx(exported["accuracy"], abs=1e-12)
    assert result["output"]["agreement"] == pytest.approx(exported["agreement"], abs=1e-12)
    assert result["first_divergent"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{result['variant'].split('model.')[1].rsplit('.onnx')[0]}.{ext}"
        for ext in ("json", "md", "png")
    )
    assert np.isfinite([r["snr_db"] for r in result["layers"]]).all()
