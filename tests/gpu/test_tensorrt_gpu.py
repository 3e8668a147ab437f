"""Real TensorRT on a real GPU: build fp32/fp16/int8 engines, load, run, compare with ONNX Runtime.

Marked ``gpu`` (run with --run-gpu); each test also skips with the reason when TensorRT, a CUDA GPU
or the export stage's FP16/INT8 models are missing. Nothing here runs on the CPU-only CI machine -
there, tests/backends/tensorrt/test_contract.py checks what the build code asks TensorRT for and
test_config.py the builder configuration (the same cases as test_config_alone_on_real_tensorrt).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx_variants import export_fp32
from trt_config_check import CASES, check_config

from conftest import make_images  # noqa: E402

pytestmark = pytest.mark.gpu

# (min top-1 agreement with ONNX Runtime fp32, max |logit difference|)
TOLERANCE = {"fp32": (1.0, 5e-2), "fp16": (0.99, 0.25), "int8": (0.95, None)}


def _need_gpu_and_tensorrt() -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed (pip install tensorrt)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch")


@pytest.fixture(scope="session")  # session: set up before the session-scoped training fixture
def _gpu_ready() -> None:
    _need_gpu_and_tensorrt()


@pytest.fixture(scope="module")
def gpu_run(_gpu_ready, _trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("gpu") / "tiny"
    shutil.copytree(_trained_run, run)
    export_fp32(run)
    return run


def _variant(run: Path, precision: str) -> Path:
    path = run / ("model.onnx" if precision == "fp32" else f"model.{precision}.onnx")
    if not path.exists():
        from vggdeploy.cli import COMMANDS, main

        if "export" not in COMMANDS:
            pytest.skip(f"the export stage (vggdeploy export --precision {precision}) is absent")
        assert main(["export", str(run), "--precision", precision]) == 0
    return path


def _images(run: Path, n: int) -> np.ndarray:
    """n synthetic Fashion-MNIST-like images through the one preprocessing function."""
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.data.preprocess import preprocess

    images, _ = make_images(n, seed=7)
    return preprocess(images, read_spec(run))


def _onnxruntime(model: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


@pytest.mark.parametrize("case", list(CASES))
def test_config_alone_on_real_tensorrt(_gpu_ready, case, tmp_path):
    """config.create_config against the real bindings: what TensorRT reports back is what was
    asked for (milliseconds: no network, no build). The double answers the same cases in
    tests/backends/tensorrt/test_config.py."""
    import tensorrt as trt

    from vggdeploy.backends.tensorrt import env

    if CASES[case].get("hardware_compat") == "same-cc" and not hasattr(
        trt.HardwareCompatibilityLevel, "SAME_COMPUTE_CAPABILITY"
    ):
        pytest.skip(f"TensorRT {trt.__version__} has no SAME_COMPUTE_CAPABILITY level")
    builder = trt.Builder(env.make_logger(trt))
    check_config(trt, builder, CASES[case], tmp_path)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_load_run_against_onnxruntime(gpu_run, tmp_path, precision):
    from vggdeploy.backends import open_runner
    from vggdeploy.backends.tensorrt import build_engine

    _variant(gpu_run, precision)
    engine = tmp_path / f"tiny.{precision}.engine"
    sidecar = build_engine(
        gpu_run / "model.onnx", engine, precision=precision, min_batch=1, opt_batch=8, max_batch=64
    )
    assert sidecar["precision"] == precision
    batch = _images(gpu_run, 64)
    reference = _onnxruntime(gpu_run / "model.onnx", batch)
    agree_min, max_diff = TOLERANCE[precision]
    with open_runner("tensorrt", engine) as runner:
        assert runner.batch_bounds() == (1, 64)
        for n in (1, 7, 64):  # dynamic batch within the profile
            got = runner.infer(batch[:n])
            agreement = (got.argmax(1) == reference[:n].argmax(1)).mean()
            assert agreement >= agree_min, (precision, n, agreement)
            if max_diff is not None:
                assert np.abs(got - reference[:n]).max() <= max_diff
    # the precision gate on a real engine of this model: every compute layer in `precision`
    record = sidecar["layer_precision"]
    assert record["status"] == "ok" and record["compute_layers"] >= 1, record


def test_cuda_graph_gives_the_same_logits(gpu_run, tmp_path):
    from vggdeploy.backends import open_runner
    from vggdeploy.backends.tensorrt import build_engine

    engine = tmp_path / "g.engine"
    build_engine(gpu_run / "model.onnx", engine, max_batch=16, opt_batch=8)
    batch = _images(gpu_run, 16)
    with (
        open_runner("tensorrt", engine) as plain,
        open_runner("tensorrt", engine, cuda_graph=True) as graphed,
    ):
        for n in (1, 16, 1):
            np.testing.assert_allclose(graphed.infer(batch[:n]), plain.infer(batch[:n]), atol=1e-5)


def test_batch_outside_profile_and_stale_sidecar_are_refused(gpu_run, tmp_path):
    from vggdeploy.backends import open_runner
    from vggdeploy.backends.tensorrt import build_engine, inspect_engine, sidecar_path
    from vggdeploy.errors import ArtifactError, UsageError

    engine = tmp_path / "b.engine"
    build_engine(gpu_run / "model.onnx", engine, min_batch=2, opt_batch=4, max_batch=8)
    with open_runner("tensorrt", engine) as runner:
        with pytest.raises(UsageError, match="range"):
            runner.infer(_images(gpu_run, 9))
        with pytest.raises(UsageError, match="range"):
            runner.infer(_images(gpu_run, 1))
    info = inspect_engine(engine)
    assert info["layers"], info.get("layers_unavailable")
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    data["tensorrt"]["version"] = "9.0.0"
    side.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="9.0.0"):
        open_runner("tensorrt", engine).activate()
