"""build-engine refuses a stale ONNX (against the TensorRT recording double: no GPU needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from onnx_artifacts import make_variant, reexport, retrain
from trt_double import make_tensorrt

from vggdeploy.backends.tensorrt import build_engine, env
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo
from vggdeploy.errors import ArtifactError


@pytest.fixture
def trt(monkeypatch: pytest.MonkeyPatch):
    fake = make_tensorrt("10")
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: DeviceInfo("Fake A100", (8, 0)))
    return fake


def test_onnx_older_than_the_checkpoint_is_not_built(trt, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.engine"
    retrain(run)
    with pytest.raises(ArtifactError) as err:  # before: built an engine of the old weights
        build_engine(run / "model.onnx", out, max_batch=8, opt_batch=8)
    assert "stale" in err.value.message and "re-export: vggdeploy export" in err.value.hint
    assert not out.exists()
    assert not any("build_serialized_network" in name for name in trt.recorder.touched)


def test_variant_whose_model_onnx_changed_is_not_built(trt, run: Path, tmp_path: Path) -> None:
    make_variant(run, "fp16")
    reexport(run / "model.onnx")
    with pytest.raises(ArtifactError, match="stale") as err:
        build_engine(run / "model.onnx", tmp_path / "e.engine", precision="fp16", max_batch=8)
    assert "--precision fp16" in err.value.hint


def test_fresh_onnx_still_builds(trt, run: Path, tmp_path: Path) -> None:
    sidecar = build_engine(run / "model.onnx", tmp_path / "e.engine", max_batch=8, opt_batch=8)
    assert sidecar["source_onnx"]["file"] == "model.onnx"
