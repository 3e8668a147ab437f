"""Drive every TensorRT code path of vggdeploy under the recording double; collect the uses.

``record_uses`` runs builds (fp32/fp16/int8, progress monitor, new/reused/corrupt timing cache,
workspace, opt level, version and hardware compatibility, the engine-inspector precision gate
passing and refusing), load, inspect and the runner (activate,
plain and CUDA-graph inference - with a numpy-backed stand-in for the few ``torch.cuda`` calls it
makes) against ``trt_double.make_tensorrt(flavour, version)``, and returns the double's
``Recorder.uses``: each TensorRT name the package touched, with file and line. The version
number matters where the package branches on it (``env.trt_major``).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import traceback
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from trt_double import INSPECTOR_FIXTURES, make_tensorrt

from vggdeploy.backends.tensorrt import env, inspect_engine, load_engine
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo
from vggdeploy.errors import UsageError, VerificationError, VggDeployError

FAKE_GPU = DeviceInfo("NVIDIA Fake A100", (8, 0))


class _FakeTensor:
    """A numpy array posing as a torch tensor for the runner's buffer handling."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape

    def pin_memory(self) -> _FakeTensor:
        return self

    def data_ptr(self) -> int:
        return int(self.array.ctypes.data)

    def __getitem__(self, index: Any) -> _FakeTensor:
        return _FakeTensor(self.array[index])

    def numpy(self) -> np.ndarray:
        return self.array

    def copy_(self, other: _FakeTensor, non_blocking: bool = False) -> _FakeTensor:
        self.array[...] = other.array
        return self


def fake_torch() -> ModuleType:
    """The torch calls TensorRTRunner makes, on the CPU (no kernels run: outputs stay zero)."""
    torch = ModuleType("torch")
    torch.float32, torch.float16, torch.bfloat16 = np.float32, np.float16, np.float32
    torch.device = lambda kind, index=0: f"{kind}:{index}"
    torch.empty = lambda shape, dtype, device=None: _FakeTensor(np.zeros(shape, dtype))

    class Graph:
        def replay(self) -> None:
            pass

    stream = SimpleNamespace(cuda_stream=12345, synchronize=lambda: None)
    torch.cuda = SimpleNamespace(
        set_device=lambda index: None,
        Stream=lambda device=None: stream,
        stream=lambda s: contextlib.nullcontext(),
        CUDAGraph=Graph,
        graph=lambda g, stream=None: contextlib.nullcontext(),
    )
    return torch


def _scenarios(run: Path, out: Path, build: Any, trt: ModuleType) -> list[tuple[str, Any]]:
    from vggdeploy.backends.tensorrt.runner import TensorRTRunner

    cache = out / "timing.cache"
    engine = out / "fp32.engine"
    batch = np.zeros((3, 1, 32, 32), np.float32)

    def run_engine(cuda_graph: bool) -> None:
        with TensorRTRunner(engine, device="cuda:0", cuda_graph=cuda_graph) as runner:
            runner.infer(batch)
            runner.infer(batch[:2])

    def corrupt_cache_build() -> None:
        cache.write_bytes(b"not a timing cache")
        build(run / "model.onnx", out / "int8.engine", precision="int8", timing_cache=cache)

    def failing(what: str, action: Any) -> Any:
        """``action`` with TensorRT's ``what`` failing: vggdeploy must raise its own error."""

        def scenario() -> None:
            trt.recorder.fail = {what}
            try:
                action()
            except VggDeployError:
                return
            finally:
                trt.recorder.fail = set()
            raise AssertionError(f"no VggDeployError when {what} failed")

        return (f"{what} fails", scenario)

    def same_cc_missing() -> None:
        """--hardware-compat same-cc on a TensorRT without the level (10.0 has only AMPERE_PLUS)."""
        levels = trt.HardwareCompatibilityLevel
        member = levels.SAME_COMPUTE_CAPABILITY
        type.__delattr__(levels, "SAME_COMPUTE_CAPABILITY")
        try:
            build(run / "model.onnx", out / "x.engine", hardware_compat="same-cc", **common)
        except UsageError:
            return
        finally:
            type.__setattr__(levels, "SAME_COMPUTE_CAPABILITY", member)
        raise AssertionError("no UsageError for a missing HardwareCompatibilityLevel")

    def fallback_refused() -> None:
        """The plan's inspector shows FP32 layers (a real FP32 engine's JSON): the precision gate
        refuses the fp16 build."""
        trt.recorder.inspector = INSPECTOR_FIXTURES["fp32"].read_text()
        try:
            build(run / "model.onnx", out / "x.engine", precision="fp16", **common)
        except VerificationError:
            return
        finally:
            trt.recorder.inspector = None
        raise AssertionError("no VerificationError for a fallen-back layer")

    common = {"min_batch": 1, "opt_batch": 8, "max_batch": 16}
    return [
        (
            "build fp32 (workspace, opt level, new timing cache, progress, compatibility)",
            lambda: build(
                run / "model.onnx",
                engine,
                workspace=1 << 30,
                opt_level=4,
                timing_cache=cache,
                progress=lambda event: None,
                version_compatible=True,
                hardware_compat="ampere+",
                **common,
            ),
        ),
        (
            "build fp16 (reused timing cache, same-cc)",
            lambda: build(
                run / "model.onnx",
                out / "fp16.engine",
                precision="fp16",
                timing_cache=cache,
                hardware_compat="same-cc",
                **common,
            ),
        ),
        ("build int8 (corrupt timing cache)", corrupt_cache_build),
        ("load", lambda: load_engine(engine)),
        ("inspect", lambda: inspect_engine(engine)),
        ("runner", lambda: run_engine(False)),
        ("runner with CUDA graphs", lambda: run_engine(True)),
        failing("parse_from_file", lambda: build(run / "model.onnx", out / "x.engine", **common)),
        failing(
            "build_serialized_network",
            lambda: build(run / "model.onnx", out / "x.engine", **common),
        ),
        failing("deserialize_cuda_engine", lambda: load_engine(engine)),
        failing("create_execution_context", lambda: run_engine(False)),
        ("same-cc on a TensorRT without it", same_cc_missing),
        ("fp16 build with a fallen-back layer (precision gate)", fallback_refused),
    ]


def record_uses(
    run: Path,
    out: Path,
    flavour: str,
    version: str,
    *,
    watch: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], list[str]]:
    """(uses, errors): the TensorRT uses of every scenario, and the scenarios that raised.

    ``watch`` adds files whose uses count besides those of vggdeploy/backends/tensorrt/ (a
    modified copy of a module, for the self-test)."""
    from vggdeploy.backends.tensorrt import build as build_module

    build = build_module.build_engine
    trt = make_tensorrt(flavour, version)
    trt.recorder.watch += watch
    out.mkdir(parents=True, exist_ok=True)
    errors = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "tensorrt", trt)
        mp.setitem(sys.modules, "torch", fake_torch())
        mp.setattr(env, "cuda_device_info", lambda index=0: FAKE_GPU)
        for name, scenario in _scenarios(run, out, build, trt):
            try:
                scenario()
            except Exception as exc:  # reported with the uses: a failing path is a finding too
                where = traceback.extract_tb(exc.__traceback__)[-1]
                at = f"{where.filename}:{where.lineno}"
                errors.append(f"{name}: {type(exc).__name__}: {exc} ({at})")
    shutil.rmtree(out, ignore_errors=True)
    return trt.recorder.uses, errors
