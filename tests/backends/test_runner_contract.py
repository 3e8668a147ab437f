"""The one Runner contract, run against every backend in BACKENDS.

Each backend gets its artifact from a fixture; a backend whose module, dependency or hardware is
missing here is skipped with the reason (never silently passed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import calibration_batch, export_fp32

from vggdeploy.backends import BACKENDS, open_runner
from vggdeploy.errors import (
    BackendUnavailableError,
    MissingDependencyError,
    UsageError,
    VggDeployError,
)


@pytest.fixture(scope="module")
def onnx_fp32(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_fp32(_trained_run, tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.fixture(scope="module")
def reference(_trained_run: Path):
    """torch fp32 logits for a fixed batch of 5 preprocessed images, computed without a runner."""
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint

    model, spec = load_checkpoint(_trained_run)
    x = calibration_batch(spec, 5, seed=3)
    with torch.inference_mode():
        return spec, x, model(torch.from_numpy(x)).numpy()


def _artifact(kind: str, request: pytest.FixtureRequest, run: Path) -> Path:
    if kind == "torch":
        return run
    if kind == "onnxruntime":
        return request.getfixturevalue("onnx_fp32")
    if kind == "inductor":
        return request.getfixturevalue("tiny_pt2")
    if kind == "tensorrt":
        from vggdeploy.backends.tensorrt import build_engine

        out = run / "engines" / "model.fp32.engine"
        try:
            build_engine(request.getfixturevalue("onnx_fp32"), out)
        except (MissingDependencyError, BackendUnavailableError) as exc:
            pytest.skip(f"tensorrt: {exc.message}")
        return out
    pytest.fail(f"no artifact fixture for backend {kind}: add one to this test")


def _activated(kind: str, source: Path):
    runner = open_runner(kind, source)
    try:
        runner.activate()
    except (MissingDependencyError, BackendUnavailableError) as exc:
        pytest.skip(f"{kind}: {exc.message}")
    return runner


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_runner_contract(kind, request, _trained_run, reference, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(_trained_run, run)
    spec, x5, ref5 = reference
    source = _artifact(kind, request, run)

    # infer before activate raises (the constructor only stores settings)
    idle = open_runner(kind, source)
    assert not idle.is_active
    with pytest.raises(VggDeployError):
        idle.infer(x5)

    runner = _activated(kind, source)
    try:
        assert runner.is_active
        assert runner.activate() is runner  # idempotent
        assert runner.input_spec() == spec.input
        assert runner.spec.fingerprint() == spec.fingerprint()

        for n in (1, 5):
            out = runner.infer(x5[:n])
            assert out.dtype == np.float32 and out.shape == (n, spec.num_classes)
            np.testing.assert_allclose(out, ref5[:n], rtol=1e-3, atol=1e-3)

        c, h, w = spec.input.channels, spec.input.height, spec.input.width
        bad_inputs = {
            "dtype": x5.astype(np.float64),
            "not an array": x5.tolist(),
            "spatial shape": np.zeros((2, c, h + 1, w), np.float32),
            "channels": np.zeros((2, c + 1, h, w), np.float32),
            "rank": np.zeros((c, h, w), np.float32),
            "batch 0": np.zeros((0, c, h, w), np.float32),
            "NaN": np.where(np.arange(x5.size).reshape(x5.shape) == 7, np.nan, x5).astype(
                np.float32
            ),
        }
        for what, bad in bad_inputs.items():
            with pytest.raises(UsageError):
                runner.infer(bad)
                pytest.fail(f"{kind} accepted bad input ({what})")
    finally:
        runner.deactivate()
    assert not runner.is_active
    runner.deactivate()  # idempotent

    with open_runner(kind, source) as r:  # context manager
        assert r.is_active
        np.testing.assert_allclose(r.infer(x5[:2]), ref5[:2], rtol=1e-3, atol=1e-3)
    assert not r.is_active


def test_torch_fp16_on_cpu_is_a_usage_error(tiny_run):
    with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
        open_runner("torch", tiny_run, precision="fp16", device="cpu")


def test_torch_cuda_without_gpu_is_unavailable(tiny_run):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(BackendUnavailableError, match="cuda"):
        open_runner("torch", tiny_run, device="cuda").activate()


def test_torch_bf16_and_channels_last_stay_close(tiny_run, reference):
    spec, x5, ref5 = reference
    with open_runner("torch", tiny_run, channels_last=True, threads=1) as r:
        np.testing.assert_allclose(r.infer(x5), ref5, rtol=1e-3, atol=1e-3)
    with open_runner("torch", tiny_run, precision="bf16") as r:
        out = r.infer(x5)
    assert (out.argmax(1) == ref5.argmax(1)).mean() >= 0.8
    assert np.abs(out - ref5).max() < 0.5


def test_onnxruntime_missing_provider_names_install_command(onnx_fp32):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider") as info:
        open_runner("onnxruntime", onnx_fp32, providers="cuda").activate()
    assert "onnxruntime-gpu" in (info.value.hint or "")


def test_onnxruntime_options_and_bad_values(onnx_fp32, reference):
    spec, x5, ref5 = reference
    opts = dict(threads=1, inter_op_threads=1, graph_optimization="basic", spinning=False)
    with open_runner("onnxruntime", onnx_fp32, **opts) as r:
        np.testing.assert_allclose(r.infer(x5), ref5, rtol=1e-3, atol=1e-3)
        assert r.active_providers == ["CPUExecutionProvider"]
    with pytest.raises(UsageError, match="provider"):
        open_runner("onnxruntime", onnx_fp32, providers="rocm")
    with pytest.raises(UsageError, match="graph_optimization"):
        open_runner("onnxruntime", onnx_fp32, graph_optimization="max")
    with pytest.raises(UsageError, match="unknown onnxruntime runner option"):
        open_runner("onnxruntime", onnx_fp32, thread=2)


def test_onnxruntime_rejects_foreign_and_missing_files(tmp_path):
    from vggdeploy.errors import ArtifactError

    with pytest.raises(ArtifactError, match="not found"):
        open_runner("onnxruntime", tmp_path / "nope.onnx").activate()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx at all")
    with pytest.raises(ArtifactError):
        open_runner("onnxruntime", junk).activate()


def test_unknown_backend_lists_valid_ones(tiny_run):
    with pytest.raises(UsageError) as info:
        open_runner("openvino", tiny_run)
    assert "torch" in (info.value.hint or "")


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_unknown_option_is_a_usage_error_in_every_runner(kind, tmp_path):
    """A typo (devcie=...) is refused by the constructor, naming the runner's real options; the
    TensorRT and inductor runners used to ignore it silently."""
    runner_cls = BACKENDS[kind].runner_class()
    assert runner_cls.OPTIONS, f"{kind} runner declares no options"
    with pytest.raises(UsageError, match=f"unknown {kind} runner option.*devcie") as info:
        open_runner(kind, tmp_path / "model", devcie="cpu")
    assert "device" in (info.value.hint or "")


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_thread_safety_is_a_runner_attribute_from_the_registry(kind, tmp_path):
    runner = open_runner(kind, tmp_path / "model")
    assert runner.thread_safe is BACKENDS[kind].thread_safe


def test_compiled_torch_runner_is_not_thread_safe(tiny_run):
    assert open_runner("torch", tiny_run).thread_safe
    assert not open_runner("torch", tiny_run, compile=True).thread_safe


@pytest.mark.parametrize(
    ("kind", "device"), [("torch", "gpu"), ("onnxruntime", "cuda:x"), ("tensorrt", "cpu")]
)
def test_bad_device_is_a_usage_error_in_the_constructor(kind, device, tmp_path):
    with pytest.raises(UsageError, match="device|CUDA devices"):
        open_runner(kind, tmp_path / "model", device=device)
