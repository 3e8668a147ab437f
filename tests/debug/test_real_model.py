"""Issue 13's acceptance on real exports of the trained default model (tests/assets/) and the
real Fashion-MNIST test set: the undamaged reports agree with what the export stage printed, and
a variant with one damaged layer is diagnosed, ranked first and fixed by --keep-fp32."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import onnx
import pytest
from precision_runs import scale_calibration_range

from vggdeploy.artifacts.onnx_meta import read_onnx_spec
from vggdeploy.debug import debug_precision
from vggdeploy.export.judge import TOLERANCES
from vggdeploy.export.keep import make_int8
from vggdeploy.export.pipeline import export_variants
from vggdeploy.export.quantize import DEFAULT_CALIB_METHOD, calibrate, calibration_images

ASSET = Path(__file__).resolve().parents[1] / "assets" / "vgg-mini-default"
REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REAL_DATA / "t10k-labels-idx1-ubyte.gz").is_file():
        why = "the real Fashion-MNIST is not installed (scripts/setup.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    run = tmp_path_factory.mktemp("real") / "run"
    run.mkdir()
    for name in ("model.json", "model.safetensors"):
        shutil.copy(ASSET / name, run / name)
    export_variants(run, precisions="all", data_dir=REAL_DATA)
    return run


@pytest.mark.parametrize(
    ("precision", "target"), [("fp16", "tensorrt"), ("int8", "tensorrt"), ("int8", "cpu")]
)
def test_reports_agree_with_the_export_stage(real_run, tmp_path, precision, target):
    result = debug_precision(
        real_run, precision=precision, target=target, images=10_000, data_dir=REAL_DATA,
        out_dir=tmp_path,
    )  # fmt: skip
    exported = result["export_report"]
    assert exported["n"] == 10_000
    assert result["output"]["accuracy"] == pytest.approx(exported["accuracy"], abs=1e-12)
    assert result["output"]["agreement"] == pytest.approx(exported["agreement"], abs=1e-12)
    assert result["first_divergent"] is None  # a healthy variant: every layer above 20 dB


def test_a_damaged_layer_is_named_ranked_first_and_fixed(real_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    conv = [n for n in onnx.load(str(run / "model.onnx")).graph.node if n.op_type == "Conv"][3]
    scale_calibration_range(run, conv.input[0], 50.0, DEFAULT_CALIB_METHOD)
    spec = read_onnx_spec(run / "model.onnx")
    ranges, key = calibrate(
        (run / "model.onnx").read_bytes(),
        calibration_images(spec, REAL_DATA, 512),
        method=DEFAULT_CALIB_METHOD,
        cache_dir=run,
        input_name=spec.input.name,
        log=lambda _m: None,
    )
    assert key["reused"]
    clean = onnx.load(str(run / "model.int8.onnx"))
    bad = make_int8(
        (run / "model.onnx").read_bytes(), ranges, target="tensorrt", method=DEFAULT_CALIB_METHOD
    )
    ranges.unlink()
    bad.metadata_props.extend(clean.metadata_props)
    onnx.save(bad, str(run / "model.int8.onnx"))

    result = debug_precision(
        run, precision="int8", target="tensorrt", images=2_000, data_dir=REAL_DATA,
        sensitivity=True,
    )  # fmt: skip
    assert result["output"]["drop_pt"] > 2.0  # the damage costs real accuracy
    assert result["first_divergent"]["layer"] == conv.name
    assert result["growth_ranking"][0]["layer"] == conv.name
    assert result["sensitivity"]["layers"][0]["layer"] == conv.name
    assert result["sensitivity"]["recommended_keep_fp32"] == [conv.name]

    fixed = export_variants(
        run, precisions="int8", targets="tensorrt", keep_fp32=[conv.name], data_dir=REAL_DATA
    )["int8"].report
    assert fixed["keep_fp32"] == [conv.name] and fixed["calibration"]["reused"] is True
    ts = fixed["verification"]["test_set"]
    assert ts["n"] == 10_000
    assert ts["accuracy_drop_pt"] <= TOLERANCES["int8"].max_accuracy_drop_pt
    assert ts["top1_agreement"] >= 0.99
