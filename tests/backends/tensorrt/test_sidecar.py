"""Engine sidecar checks: every refusal happens before TensorRT deserializes anything.

The engine and sidecar are produced by the real build code driven by the recording tensorrt double
(see test_tensorrt_contract.py); ``check_engine`` itself needs no TensorRT, so the machine facts
(TensorRT version, GPU) are passed in explicitly.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import pytest
from onnx_variants import export_fp32
from trt_double import make_tensorrt

from vggdeploy.backends.tensorrt import build_engine, env, inspect_engine
from vggdeploy.backends.tensorrt.sidecar import (
    PRECISIONS,
    SCHEMA,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    DeviceInfo,
    check_engine,
    make_sidecar,
    read_sidecar,
    sidecar_path,
    version_tuple,
)
from vggdeploy.errors import ArtifactError
from vggdeploy.models import make_spec

BUILT_ON = DeviceInfo("NVIDIA A100-SXM4-80GB", (8, 0))
TRT10 = "10.16.1.11"


@pytest.fixture(scope="session")
def _onnx_model(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("sidecar") / "tiny"
    shutil.copytree(_trained_run, run)
    return export_fp32(run)


@pytest.fixture
def build(_onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """build(**options) -> engine path, built by the real build code on the TensorRT double."""
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt("10"))
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: BUILT_ON)

    def _build(**kw) -> Path:
        out = tmp_path / "engines" / "tiny.engine"
        build_engine(_onnx_model, out, max_batch=16, opt_batch=4, **kw)
        return out

    return _build


def test_matching_engine_passes_and_returns_the_verified_bytes(build):
    engine = build()
    sidecar, plan = check_engine(engine, trt_version=TRT10, device=BUILT_ON)
    assert plan == engine.read_bytes()
    assert sidecar.precision == "fp32" and sidecar.batch_bounds == (1, 16)
    assert sidecar.model_spec().preset == "vgg-mini"


def test_tensorrt_version_mismatch_names_both_and_how_to_rebuild(build):
    engine = build()
    with pytest.raises(ArtifactError) as err:
        check_engine(engine, trt_version="10.13.0.35", device=BUILT_ON)
    assert "TensorRT 10.16.1.11" in err.value.message
    assert "TensorRT 10.13.0.35" in err.value.message
    assert "vggdeploy build-engine" in err.value.hint and "--max-batch 16" in err.value.hint
    assert "--version-compatible" in err.value.hint


def test_version_compatible_engine_loads_in_later_tensorrt_only(build):
    engine = build(version_compatible=True)
    check_engine(engine, trt_version="10.16.1.11", device=BUILT_ON)
    check_engine(engine, trt_version="11.1.0.4", device=BUILT_ON)
    with pytest.raises(ArtifactError, match="only in TensorRT 10.16.1.11 or later"):
        check_engine(engine, trt_version="10.8.0.43", device=BUILT_ON)


def test_compute_capability_mismatch_names_both_gpus(build):
    engine = build()
    h100 = DeviceInfo("NVIDIA H100 80GB HBM3", (9, 0))
    with pytest.raises(ArtifactError) as err:
        check_engine(engine, trt_version=TRT10, device=h100)
    msg = err.value.message
    assert "NVIDIA A100-SXM4-80GB (compute capability 8.0)" in msg
    assert "NVIDIA H100 80GB HBM3 (compute capability 9.0)" in msg
    assert "--hardware-compat ampere+" in err.value.hint


def test_ampere_plus_engine_runs_on_newer_gpus_not_older(build):
    engine = build(hardware_compat="ampere+")
    check_engine(engine, trt_version=TRT10, device=DeviceInfo("NVIDIA H100", (9, 0)))
    check_engine(engine, trt_version=TRT10, device=DeviceInfo("NVIDIA L4", (8, 9)))
    with pytest.raises(ArtifactError, match="compute capability 7.5"):
        check_engine(engine, trt_version=TRT10, device=DeviceInfo("Tesla T4", (7, 5)))


def test_same_cc_engine_moves_between_models_of_one_generation(build, caplog):
    engine = build(hardware_compat="same-cc")
    with caplog.at_level(logging.WARNING):
        check_engine(engine, trt_version=TRT10, device=DeviceInfo("NVIDIA A30", (8, 0)))
    assert caplog.text == ""
    with pytest.raises(ArtifactError, match="compute capability 8.6"):
        check_engine(engine, trt_version=TRT10, device=DeviceInfo("NVIDIA A10", (8, 6)))


def test_other_gpu_model_same_cc_warns_for_a_plain_engine(build, caplog):
    engine = build()
    with caplog.at_level(logging.WARNING):
        check_engine(engine, trt_version=TRT10, device=DeviceInfo("NVIDIA A30", (8, 0)))
    assert "NVIDIA A30" in caplog.text and "rebuild" in caplog.text


def test_sha256_mismatch(build):
    engine = build()
    plan = bytearray(engine.read_bytes())
    plan[10] ^= 0xFF
    engine.write_bytes(bytes(plan))
    with pytest.raises(ArtifactError, match="does not match its sidecar") as err:
        check_engine(engine, trt_version=TRT10, device=BUILT_ON)
    recorded = read_sidecar(engine).engine_sha256
    assert recorded[:16] in err.value.message
    assert "vggdeploy build-engine" in err.value.hint


def test_replaced_engine_of_other_size(build):
    engine = build()
    engine.write_bytes(engine.read_bytes() + b"extra")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        check_engine(engine, trt_version=None, device=None)


def test_truncated_engine(build):
    engine = build()
    full = engine.read_bytes()
    engine.write_bytes(full[: len(full) // 2])
    with pytest.raises(ArtifactError, match="truncated") as err:
        check_engine(engine, trt_version=TRT10, device=BUILT_ON)
    assert f"{len(full) // 2:,} bytes on disk" in err.value.message
    assert f"{len(full):,} bytes" in err.value.message


def test_missing_sidecar(build):
    engine = build()
    sidecar_path(engine).unlink()
    with pytest.raises(ArtifactError, match="sidecar not found") as err:
        check_engine(engine, trt_version=TRT10, device=BUILT_ON)
    assert "tiny.engine.json" in err.value.message


def test_missing_engine(tmp_path):
    with pytest.raises(ArtifactError, match="engine not found"):
        check_engine(tmp_path / "none.engine", trt_version=None, device=None)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(version=99), "schema version 99"),
        (lambda d: d.update(format="something-else"), "'format'"),
        (lambda d: d.pop("device"), "missing section 'device'"),
        (lambda d: d["engine"].pop("sha256"), "lacks sha256"),
        (lambda d: d.update(precision="fp8"), "'precision' is 'fp8', expected one of fp32"),
        (lambda d: d["engine"].update(sha256="ABC"), "'engine.sha256'"),
        (lambda d: d["device"].update(compute_capability="8.0"), "'device.compute_capability'"),
        (lambda d: d["device"].update(compute_capability=[8]), "'device.compute_capability'"),
        (lambda d: d["tensorrt"].update(version_compatible="yes"), "'tensorrt.version_compatible'"),
        (
            lambda d: d["tensorrt"].pop("hardware_compat"),
            "section 'tensorrt' lacks hardware_compat",
        ),
        (
            lambda d: d["tensorrt"].update(hardware_compat="all"),
            "'tensorrt.hardware_compat' is 'all'",
        ),
        (lambda d: d["profile"].update(max=[0, 1, 32, 32]), "'profile.max.0'"),
        (lambda d: d.update(plan_sha256="0" * 64), "'plan_sha256' was unexpected"),
    ],
)
def test_sidecar_schema_is_checked(build, mutate, match):
    engine = build()
    path = sidecar_path(engine)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=match):
        check_engine(engine, trt_version=TRT10, device=BUILT_ON)


def test_corrupt_sidecar_json(build):
    engine = build()
    sidecar_path(engine).write_text('{"format": "vggdeploy.engine-sid')
    with pytest.raises(ArtifactError, match="not readable JSON"):
        check_engine(engine, trt_version=None, device=None)


def test_inspect_reports_integrity_without_tensorrt(build, monkeypatch):
    engine = build()
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # TensorRT absent
    info = inspect_engine(engine)
    assert info["integrity"].startswith("ok")
    assert info["layers"] is None and "TensorRT not available" in info["layers_unavailable"]
    assert info["sidecar"]["engine"]["file"] == "tiny.engine"
    engine.write_bytes(engine.read_bytes()[:-1])
    assert inspect_engine(engine)["integrity"].startswith("FAILED: engine")


def test_version_tuple():
    assert version_tuple("10.16.1.11") == (10, 16, 1, 11)
    assert version_tuple("11.0.0rc1") == (11, 0, 0)
    assert version_tuple("10.8.0.43") < version_tuple("10.16.1.11")


def test_schema_is_the_one_home_of_the_format():
    assert SCHEMA["$id"].endswith(f"engine-sidecar:{SIDECAR_VERSION}")
    assert SIDECAR_FORMAT == "vggdeploy.engine-sidecar"
    from vggdeploy.artifacts.variants import EXPORT_PRECISIONS

    assert PRECISIONS == EXPORT_PRECISIONS  # an engine is built from each exported ONNX variant


def test_built_sidecar_has_every_key_the_schema_names(build):
    """The build fills every section; the schema's required keys are exactly what it writes."""
    data = json.loads(sidecar_path(build(timing_cache=None)).read_text())
    assert set(data) == set(SCHEMA["properties"])
    for section in ("engine", "tensorrt", "device", "profile", "source_onnx"):
        assert set(data[section]) == set(SCHEMA["properties"][section]["properties"]), section


def test_constructor_refuses_what_the_schema_refuses():
    spec = make_spec()
    good = dict(
        engine_file="m.engine",
        plan=b"plan",
        trt_version="10.16.1.11",
        device=BUILT_ON,
        precision="fp32",
        spec=spec,
        shapes={"min": (1, 1, 32, 32), "opt": (4, 1, 32, 32), "max": (16, 1, 32, 32)},
        io=[],
        source_onnx=("model.onnx", "0" * 64),
    )
    assert make_sidecar(**good)["engine"]["size"] == 4
    with pytest.raises(ValueError, match="'precision' is 'bf16'"):
        make_sidecar(**{**good, "precision": "bf16"})
    with pytest.raises(ValueError, match="hardware_compat"):
        make_sidecar(**{**good, "hardware_compat": "turing+"})
    with pytest.raises(ValueError, match="source_onnx.sha256"):
        make_sidecar(**{**good, "source_onnx": ("model.onnx", "not-a-digest")})


def test_version_1_sidecar_without_layer_precision_still_reads(build):
    """Version 2 added the required layer_precision section; version-1 sidecars stay valid, and
    inspect says the check was not recorded."""
    from vggdeploy.backends.tensorrt.describe import engine_lines

    assert SIDECAR_VERSION == 2
    engine = build()
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    assert data["version"] == 2 and data["layer_precision"]["status"] == "ok"
    del data["layer_precision"]
    side.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="layer_precision"):
        read_sidecar(engine)  # version 2 must carry it
    data["version"] = 1
    side.write_text(json.dumps(data))
    assert read_sidecar(engine).data["version"] == 1
    lines = engine_lines(inspect_engine(engine))
    assert "layer precision   not recorded (sidecar from an older vggdeploy)" in lines
    data["version"] = 3
    side.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"reads versions 1\.\.2"):
        read_sidecar(engine)
