"""CONTRACT tests of the TensorRT build/load code against a recording double of ``tensorrt``.

No TensorRT and no GPU are involved: ``trt_double.make_tensorrt`` mimics the 10.x and 11.x Python
bindings (from NVIDIA's API reference and 10->11 migration guide) and records what vggdeploy asks
for. These tests prove the *requests* are right - strongly typed network, the optimization profile,
memory pool limit, timing cache, compatibility settings, no removed API - not that TensorRT builds
or runs the engine; that is tests/gpu/test_tensorrt_gpu.py's job on a real GPU. The double itself
is checked against the real bindings of four TensorRT releases by test_real_bindings.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path

import onnx
import pytest
from trt_double import INSPECTOR_FIXTURES, REMOVED_IN_10, REMOVED_IN_11, make_tensorrt

from vggdeploy.artifacts.checkpoint import read_spec
from vggdeploy.backends.tensorrt import build_engine, env, inspect_engine, load_engine
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, sidecar_path
from vggdeploy.cli import main
from vggdeploy.errors import (
    ArtifactError,
    BackendUnavailableError,
    MissingDependencyError,
    UsageError,
)

FAKE_GPU = DeviceInfo("NVIDIA Fake A100", (8, 0))


@pytest.fixture(params=["10", "11"], ids=["trt10", "trt11"])
def trt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    fake = make_tensorrt(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: FAKE_GPU)
    return fake


def _build(run: Path, tmp_path: Path, **kw):
    kw.setdefault("min_batch", 1)
    kw.setdefault("opt_batch", 8)
    kw.setdefault("max_batch", 64)
    out = tmp_path / "engines" / "tiny.engine"
    return out, build_engine(run / "model.onnx", out, **kw)


def test_network_is_strongly_typed_without_explicit_batch(trt, run, tmp_path):
    _build(run, tmp_path)
    (flags,) = trt.recorder.args_of("create_network")
    if trt.__version__.startswith("10."):
        assert flags[0] == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    else:  # 11.x: strongly typed is the only mode; the deprecated flag is not passed
        assert flags[0] == 0
    assert "NetworkDefinitionCreationFlag.EXPLICIT_BATCH" not in trt.recorder.touched


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_no_weak_typing_and_no_removed_api(trt, run, tmp_path, precision):
    out, _ = _build(run, tmp_path, precision=precision)
    load_engine(out)
    inspect_engine(out)
    touched = set(trt.recorder.touched)
    assert not touched & REMOVED_IN_11, sorted(touched & REMOVED_IN_11)
    assert not touched & REMOVED_IN_10, sorted(touched & REMOVED_IN_10)
    flags = {f.name for (f,) in trt.recorder.args_of("config.set_flag")}
    assert not flags & {"FP16", "INT8", "BF16", "OBEY_PRECISION_CONSTRAINTS"}
    assert "config.int8_calibrator=" not in trt.recorder.names()
    parsed = trt.recorder.args_of("parse_from_file")[0][0]
    assert Path(parsed).name == {"fp32": "model.onnx"}.get(precision, f"model.{precision}.onnx")


def test_one_profile_with_the_batch_bounds(trt, run, tmp_path):
    out, sidecar = _build(run, tmp_path, min_batch=2, opt_batch=16, max_batch=48)
    spec = read_spec(run)
    chw = (spec.input.channels, spec.input.height, spec.input.width)
    assert trt.recorder.args_of("profile.set_shape") == [
        (spec.input.name, (2, *chw), (16, *chw), (48, *chw))
    ]
    assert len(trt.recorder.args_of("config.add_optimization_profile")) == 1
    assert sidecar["profile"] == {
        "input": "input",
        "min": [2, *chw],
        "opt": [16, *chw],
        "max": [48, *chw],
    }


@pytest.mark.parametrize("bounds", [(0, 1, 4), (4, 2, 8), (1, 9, 8), (5, 5, 4)])
def test_batch_bounds_are_checked_before_anything(trt, run, tmp_path, bounds):
    lo, opt, hi = bounds
    # a bound below 1 is named by its argument; bounds out of order by the profile's rule
    with pytest.raises(
        UsageError, match="min .* opt .* max|--min-batch must be an integer in \\[1,"
    ):
        _build(run, tmp_path, min_batch=lo, opt_batch=opt, max_batch=hi)
    assert trt.recorder.calls == []


def test_memory_pool_limit(trt, run, tmp_path):
    _build(run, tmp_path, workspace=3 << 30)
    assert trt.recorder.args_of("config.set_memory_pool_limit") == [
        (trt.MemoryPoolType.WORKSPACE, 3 << 30)
    ]


def test_no_workspace_leaves_tensorrt_default(trt, run, tmp_path):
    _build(run, tmp_path)
    assert trt.recorder.args_of("config.set_memory_pool_limit") == []


def test_timing_cache_is_loaded_updated_and_saved_atomically(trt, run, tmp_path):
    cache = tmp_path / "caches" / "timing.cache"
    cache.parent.mkdir()
    cache.write_bytes(b"TCACHE" + json.dumps(["tactic-0"]).encode())
    _build(run, tmp_path, timing_cache=cache)
    assert trt.recorder.args_of("config.create_timing_cache")[0][0].startswith(b"TCACHE")
    ((_, ignore_mismatch),) = trt.recorder.args_of("config.set_timing_cache")
    assert ignore_mismatch is False
    assert json.loads(cache.read_bytes()[6:]) == ["tactic-0", "tactic-1"]
    assert sorted(p.name for p in cache.parent.iterdir()) == ["timing.cache"]  # no temp left


def test_new_and_corrupt_timing_caches_start_fresh(trt, run, tmp_path, caplog):
    cache = tmp_path / "new.cache"
    _build(run, tmp_path, timing_cache=cache)
    assert json.loads(cache.read_bytes()[6:]) == ["tactic-0"]
    cache.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        _build(run, tmp_path, timing_cache=cache)
    assert "could not be loaded" in caplog.text
    assert json.loads(cache.read_bytes()[6:]) == ["tactic-0"]


def test_compatibility_and_optimization_settings(trt, run, tmp_path):
    _, sidecar = _build(
        run, tmp_path, version_compatible=True, hardware_compat="ampere+", opt_level=5
    )
    assert trt.recorder.args_of("config.set_flag") == [(trt.BuilderFlag.VERSION_COMPATIBLE,)]
    assert trt.recorder.args_of("config.hardware_compatibility_level=") == [
        (trt.HardwareCompatibilityLevel.AMPERE_PLUS,)
    ]
    assert trt.recorder.args_of("config.builder_optimization_level=") == [(5,)]
    assert sidecar["tensorrt"]["version_compatible"] is True
    assert sidecar["tensorrt"]["hardware_compat"] == "ampere+"
    assert "--version-compatible --hardware-compat ampere+" in sidecar["build"]["command"]


def test_same_compute_capability_level(trt, run, tmp_path):
    _build(run, tmp_path, hardware_compat="same-cc")
    assert trt.recorder.args_of("config.hardware_compatibility_level=") == [
        (trt.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY,)
    ]
    assert trt.recorder.args_of("config.set_flag") == []


def test_defaults_request_no_compatibility(trt, run, tmp_path):
    _build(run, tmp_path)
    names = trt.recorder.names()
    assert "config.hardware_compatibility_level=" not in names
    assert "config.builder_optimization_level=" not in names
    assert trt.recorder.args_of("config.set_flag") == []


def test_progress_monitor_reports_phases(trt, run, tmp_path):
    events = []
    _build(run, tmp_path, progress=events.append)
    (monitor,) = trt.recorder.args_of("config.progress_monitor=")
    assert isinstance(monitor[0], trt.IProgressMonitor)
    kinds = [(e.kind, e.phase, e.done, e.total) for e in events]
    assert kinds[0] == ("start", "Building engine", 0, 2)
    assert ("step", "Tactic selection", 3, 3) in kinds
    assert kinds[-1] == ("finish", "Building engine", 2, 2)
    assert events[1].parent == "Building engine"


def test_engine_is_the_plain_plan_and_sidecar_describes_it(trt, run, tmp_path):
    out, sidecar = _build(run, tmp_path, precision="fp16")
    plan = out.read_bytes()
    assert plan.startswith(b'{"fake_tensorrt_plan"')  # exactly what the builder returned
    assert sidecar == json.loads(sidecar_path(out).read_text())
    assert sidecar["engine"] == {
        "file": out.name,
        "sha256": hashlib.sha256(plan).hexdigest(),
        "size": len(plan),
    }
    assert sidecar["tensorrt"]["version"] == trt.__version__
    assert sidecar["device"] == {"name": FAKE_GPU.name, "compute_capability": [8, 0]}
    assert sidecar["precision"] == "fp16"
    src = run / "model.fp16.onnx"
    assert sidecar["source_onnx"] == {
        "file": src.name,
        "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    }
    assert sidecar["io"] == [
        {"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 1, 32, 32]},
        {"name": "logits", "mode": "output", "dtype": "float32", "shape": [-1, 10]},
    ]
    assert sidecar["model_spec"] == json.loads(read_spec(run).to_json())
    assert sidecar["build"]["strongly_typed"] is True
    assert sidecar["build"]["seconds"] >= 0


def test_default_output_name(trt, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sidecar = build_engine(run / "model.onnx", precision="int8", max_batch=16, opt_batch=4)
    assert (tmp_path / "engines" / "tiny.int8.engine").is_file()
    assert sidecar["engine"]["file"] == "tiny.int8.engine"


def test_variant_file_given_directly_sets_precision(trt, run, tmp_path):
    out = tmp_path / "e.engine"
    sidecar = build_engine(run / "model.int8.onnx", out, max_batch=8, opt_batch=8)
    assert sidecar["precision"] == "int8"
    with pytest.raises(UsageError, match="int8 model"):
        build_engine(run / "model.int8.onnx", out, precision="fp16")


def test_missing_variant_says_how_to_export(trt, run, tmp_path):
    (run / "model.fp16.onnx").unlink()
    with pytest.raises(ArtifactError) as err:
        _build(run, tmp_path, precision="fp16")
    assert "model.fp16.onnx" in err.value.message
    assert err.value.hint == f"create it with: vggdeploy export {run} --precision fp16"


def test_variant_without_its_precision_is_refused(trt, run, tmp_path):
    shutil.copy(run / "model.onnx", run / "model.int8.onnx")
    # refused by content: the name says int8, the graph is fp32 (identity check, exit 4)
    with pytest.raises(ArtifactError, match="no QuantizeLinear|its content is the fp32"):
        _build(run, tmp_path, precision="int8")
    shutil.copy(run / "model.onnx", run / "model.fp16.onnx")
    with pytest.raises(ArtifactError, match="no FLOAT16|its content is the fp32"):
        _build(run, tmp_path, precision="fp16")


def test_load_checks_sidecar_before_deserializing(trt, run, tmp_path, monkeypatch):
    out, _ = _build(run, tmp_path)
    trt.recorder.calls.clear()  # the build deserializes its own plan to inspect it
    side = sidecar_path(out)
    data = json.loads(side.read_text())
    data["tensorrt"]["version"] = "10.0.1.6"
    side.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="10.0.1.6"):
        load_engine(out)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: DeviceInfo("RTX 2080", (7, 5)))
    data["tensorrt"]["version"] = trt.__version__
    side.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="compute capability 7.5"):
        load_engine(out)
    assert "deserialize_cuda_engine" not in trt.recorder.names()


def test_version_compatible_engine_allows_its_host_code(trt, run, tmp_path):
    out, _ = _build(run, tmp_path, version_compatible=True)
    loaded = load_engine(out)
    names = trt.recorder.names()
    assert names.index("runtime.engine_host_code_allowed=") < names.index("deserialize_cuda_engine")
    assert loaded.sidecar.version_compatible


def test_plain_engine_keeps_host_code_disallowed(trt, run, tmp_path):
    out, _ = _build(run, tmp_path)
    load_engine(out)
    assert "runtime.engine_host_code_allowed=" not in trt.recorder.names()


def test_inspect_engine_adds_inspector_layers(trt, run, tmp_path):
    out, _ = _build(run, tmp_path)
    assert trt.recorder.args_of("config.profiling_verbosity=") == [
        (trt.ProfilingVerbosity.DETAILED,)
    ]
    trt.recorder.calls.clear()
    info = inspect_engine(out)
    assert info["integrity"].startswith("ok")
    replayed = json.loads(INSPECTOR_FIXTURES["fp32"].read_text())  # the double's FP32 engine
    assert info["layers"] == replayed
    assert trt.recorder.args_of("inspector.get_engine_information") == [
        (trt.LayerInformationFormat.JSON,)
    ]


def test_too_old_tensorrt_is_refused(monkeypatch, run, tmp_path):
    fake = make_tensorrt("10")
    fake.__version__ = "8.6.1"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    with pytest.raises(MissingDependencyError, match="too old"):
        _build(run, tmp_path)


def test_no_gpu_is_backend_unavailable(monkeypatch, run, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt("11"))
    # the real device probe: this machine's PyTorch sees no CUDA GPU
    with pytest.raises(BackendUnavailableError, match="NVIDIA GPU"):
        _build(run, tmp_path)
    assert main(["build-engine", str(run / "model.onnx")]) == 6
    assert "needs an NVIDIA GPU" in capsys.readouterr().err


def test_cli_without_tensorrt_exits_5_with_install_hint(run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as on this machine
    code = main(["build-engine", "--fp16", str(run / "model.onnx")])
    err = capsys.readouterr().err
    assert code == 5
    assert "TensorRT not available" in err
    assert "pip install tensorrt" in err and "vggdeploy[tensorrt]" in err
    assert "Traceback" not in err


def test_cli_build_passes_options_through(trt, run, tmp_path, capsys):
    out = tmp_path / "cli.engine"
    cache = tmp_path / "t.cache"
    args = ["build-engine", str(run / "model.onnx"), "--fp16", "--min-batch", "2"]
    args += ["--max-batch", "16", "--workspace", "2G", "--timing-cache", str(cache)]
    args += ["--opt-level", "4", "--version-compatible", "--hardware-compat", "same-cc"]
    assert main([*args, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"fp16 engine for {FAKE_GPU.name}" in printed and "batch 2..16 (opt 16)" in printed
    assert f"wrote {out} and its .json sidecar" in printed
    assert trt.recorder.args_of("config.set_memory_pool_limit") == [
        (trt.MemoryPoolType.WORKSPACE, 2 << 30)
    ]
    assert trt.recorder.args_of("config.builder_optimization_level=") == [(4,)]
    assert cache.is_file() and out.is_file() and sidecar_path(out).is_file()
    command = json.loads(sidecar_path(out).read_text())["build"]["command"]
    assert "--workspace 2G" in command and command.endswith(f"-o {out}")


def test_inspect_command_prints_sidecar_and_layers(trt, run, tmp_path, capsys):
    out, _ = _build(run, tmp_path, precision="int8")
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "precision         int8" in text
    assert f"TensorRT {trt.__version__} on {FAKE_GPU.name} (compute capability 8.0)" in text
    # the double replays the real QAT MobileNetV2 engine (fixtures/): 11 layers, 4 of them compute
    assert "layers            11 (TensorRT engine inspector)" in text
    assert "layer precision   ok: compute layers run in int8 (4 compute layers: 4 int8)" in text
    assert main(["inspect", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["sidecar"]["precision"] == "int8"


def test_runner_without_tensorrt_or_gpu_fails_cleanly(monkeypatch, tmp_path):
    from vggdeploy.backends import open_runner

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="TensorRT not available"):
        open_runner("tensorrt", tmp_path / "x.engine").activate()
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt("11"))
    with pytest.raises(BackendUnavailableError):
        open_runner("tensorrt", tmp_path / "x.engine", device="cuda:0").activate()
    with pytest.raises(UsageError, match="CUDA devices"):
        open_runner("tensorrt", tmp_path / "x.engine", device="cpu").activate()


def test_library_defaults_are_the_clis(trt, run, tmp_path):
    """build_engine(path, max_batch=16) from Python works as the CLI does: the opt batch and the
    device are derived in the library, not in the command."""
    sidecar = build_engine(run / "model.onnx", tmp_path / "py.engine", max_batch=16)
    assert [sidecar["profile"][k][0] for k in ("min", "opt", "max")] == [1, 16, 16]
    sidecar = build_engine(run / "model.onnx", tmp_path / "d.engine", device="cuda:0")
    # the default profile ends where the ONNX was verified: what it records, one fact
    props = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    verified = int(props["vggdeploy.max_batch"])
    want = [1, min(32, verified), verified]
    assert [sidecar["profile"][k][0] for k in ("min", "opt", "max")] == want
    with pytest.raises(UsageError, match="CUDA devices"):
        build_engine(run / "model.onnx", tmp_path / "c.engine", device="cpu")


def test_a_profile_beyond_the_verified_batch_is_said(trt, run, tmp_path, caplog):
    props = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    beyond = int(props["vggdeploy.max_batch"]) + 1
    sidecar = build_engine(run / "model.onnx", tmp_path / "big.engine", max_batch=beyond)
    assert sidecar["profile"]["max"][0] == beyond
    assert "larger batches are unverified" in caplog.text


def test_engine_facts_come_from_the_backend(trt, run, tmp_path):
    """bench's precision column and Triton's batch range read the sidecar through the package."""
    from vggdeploy.backends.tensorrt import engine_io
    from vggdeploy.bench.matrix import describe_file

    out, _ = _build(run, tmp_path, precision="int8", min_batch=2, max_batch=16)
    assert describe_file(out) == ("int8", "tiny")  # the name says nothing; the sidecar does
    facts = engine_io(out)
    assert (facts.min_batch, facts.max_batch) == (2, 16)
    assert facts.dtypes[facts.spec.input.name] == "float32"
    out.write_bytes(out.read_bytes()[:-1])
    with pytest.raises(ArtifactError, match="truncated"):
        engine_io(out)
