"""TensorRT backend: check and load an engine (``load_engine``) and run it (``TensorRTRunner``).

Engines are plain TensorRT plans with a ``NAME.engine.json`` sidecar (see tensorrt/sidecar.py);
loading verifies the sidecar against the plan and this machine before TensorRT sees a byte.
``tensorrt`` is imported only inside functions: without it, every entry point raises
MissingDependencyError (exit 5) with the install command, and without a CUDA GPU
BackendUnavailableError (exit 6).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.backends.base import Runner
from vggdeploy.backends.tensorrt import env
from vggdeploy.backends.tensorrt.sidecar import EngineSidecar, check_engine
from vggdeploy.errors import ArtifactError, UsageError, VggDeployError
from vggdeploy.spec import ModelSpec, check_graph_shapes

__all__ = ["LoadedEngine", "TensorRTRunner", "load_engine"]


@dataclass
class LoadedEngine:
    """A deserialized ICudaEngine with the IRuntime that must outlive it and its sidecar."""

    engine: Any
    runtime: Any
    sidecar: EngineSidecar
    logger: Any


def load_engine(engine_path: str | os.PathLike[str], *, device_index: int = 0) -> LoadedEngine:
    """Check the sidecar against the plan and this machine, then deserialize the plan."""
    trt = env.require_tensorrt("loading TensorRT engines")
    device = env.cuda_device_info(device_index)
    sidecar, plan = check_engine(engine_path, trt_version=str(trt.__version__), device=device)
    logger = env.make_logger(trt)
    runtime = trt.Runtime(logger)
    if sidecar.version_compatible:
        # A version-compatible plan embeds the lean runtime (host code); the sha256 check has just
        # shown this is the plan vggdeploy built, so allowing its host code is deliberate.
        runtime.engine_host_code_allowed = True
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        detail = "; ".join(logger.errors[-3:]) or "no detail from TensorRT"
        raise ArtifactError(
            f"TensorRT could not deserialize '{engine_path}' although its sidecar checks passed "
            f"({detail})",
            hint=f"rebuild it: {sidecar.rebuild_command}",
        )
    return LoadedEngine(engine=engine, runtime=runtime, sidecar=sidecar, logger=logger)


_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16"}


class TensorRTRunner(Runner):
    """Runs a vggdeploy engine on a CUDA GPU.

    Device buffers are torch CUDA tensors sized for the profile's max batch, bound once; each call
    sets the input shape, copies through pinned host memory and runs ``execute_async_v3`` on a
    private stream.
    """

    kind = "tensorrt"
    OPTIONS = {
        "device": '0, "cuda" or "cuda:N" (default 0)',
        "cuda_graph": "capture one CUDA graph per batch size on first use and replay it "
        "(cuts launch overhead at small batches)",
    }

    def __init__(self, source: Any, **options: Any) -> None:
        super().__init__(source, **options)
        self.device_index = env.cuda_index(options.get("device", 0))
        self._cuda_graph = bool(options.get("cuda_graph", False))

    def _activate(self) -> ModelSpec:
        device_index = self.device_index
        env.require_tensorrt("running TensorRT engines")  # exit 5 before 6, as for builds
        env.cuda_device_info(device_index)  # BackendUnavailableError when there is no GPU
        import torch

        torch.cuda.set_device(device_index)  # TensorRT deserializes and runs on the current one
        loaded = load_engine(self.source, device_index=device_index)

        self._torch = torch
        self._loaded = loaded
        self._logger = loaded.logger
        self._sidecar = sidecar = loaded.sidecar
        spec = sidecar.model_spec()
        engine = loaded.engine
        trt = env.require_tensorrt()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if inputs != [spec.input.name] or len(outputs) != 1:
            raise ArtifactError(
                f"engine '{self.source}' has inputs {inputs} and outputs {outputs}; expected one "
                f"input '{spec.input.name}' and one output",
                hint=f"rebuild it: {sidecar.rebuild_command}",
            )
        self._in_name, self._out_name = inputs[0], outputs[0]
        shapes = [tuple(engine.get_tensor_shape(n)) for n in (inputs[0], outputs[0])]
        check_graph_shapes(spec, self.source, *shapes)  # e.g. a sidecar of another model
        lo, _opt, hi = engine.get_tensor_profile_shape(self._in_name, 0)
        self._bounds = (int(lo[0]), int(hi[0]))
        if self._bounds != sidecar.batch_bounds:
            raise ArtifactError(
                f"engine '{self.source}' profile batch range {self._bounds} differs from its "
                f"sidecar's {sidecar.batch_bounds}",
                hint=f"rebuild it: {sidecar.rebuild_command}",
            )

        dev = torch.device("cuda", device_index)
        self._device = dev
        max_n = self._bounds[1]
        in_dtype = _torch_dtype(torch, engine, self._in_name, self.source)
        out_dtype = _torch_dtype(torch, engine, self._out_name, self.source)
        chw = tuple(spec.input.shape(1)[1:])
        self._d_in = torch.empty((max_n, *chw), dtype=in_dtype, device=dev)
        self._d_out = torch.empty((max_n, spec.num_classes), dtype=out_dtype, device=dev)
        self._h_in = torch.empty((max_n, *chw), dtype=torch.float32).pin_memory()
        self._h_out = torch.empty((max_n, spec.num_classes), dtype=torch.float32).pin_memory()
        self._stream = torch.cuda.Stream(device=dev)
        self._context = engine.create_execution_context()
        if self._context is None:
            raise VggDeployError(f"TensorRT could not create an execution context ({self.source})")
        self._context.set_tensor_address(self._in_name, self._d_in.data_ptr())
        self._context.set_tensor_address(self._out_name, self._d_out.data_ptr())
        self._shape_n = -1
        self._graphs: dict[int, Any] = {}
        return spec

    def _deactivate(self) -> None:
        for name in ("_graphs", "_context", "_d_in", "_d_out", "_h_in", "_h_out", "_loaded"):
            if hasattr(self, name):
                delattr(self, name)

    def batch_bounds(self) -> tuple[int, int | None]:
        return self._bounds

    @property
    def sidecar(self) -> EngineSidecar:
        return self._sidecar

    def _set_batch(self, n: int) -> None:
        if n != self._shape_n:
            shape = (n, *self._d_in.shape[1:])
            if not self._context.set_input_shape(self._in_name, shape):
                raise UsageError(f"TensorRT rejected input shape {shape} for {self.source}")
            self._shape_n = n

    def _enqueue(self) -> None:
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            detail = "; ".join(self._logger.errors[-3:])
            raise VggDeployError(f"TensorRT execution failed for {self.source}: {detail}")

    def _run_graph(self, n: int) -> None:
        torch = self._torch
        graph = self._graphs.get(n)
        self._set_batch(n)  # keep the context's shapes consistent with the graph replayed
        if graph is None:
            self._enqueue()  # TensorRT needs one launch after a shape change before capture
            self._stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self._stream):
                self._enqueue()
            self._graphs[n] = graph
        graph.replay()

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        n = batch.shape[0]
        self._h_in[:n].numpy()[...] = batch
        with torch.cuda.stream(self._stream):
            self._d_in[:n].copy_(self._h_in[:n], non_blocking=True)
            if self._cuda_graph:
                self._run_graph(n)
            else:
                self._set_batch(n)
                self._enqueue()
            self._h_out[:n].copy_(self._d_out[:n], non_blocking=True)
        self._stream.synchronize()
        return self._h_out[:n].numpy().copy()


def _torch_dtype(torch: Any, engine: Any, name: str, source: Path) -> Any:
    dtype = engine.get_tensor_dtype(name)
    key = getattr(dtype, "name", str(dtype).rsplit(".", 1)[-1])
    if key not in _TORCH_DTYPES:
        raise ArtifactError(
            f"engine '{source}' tensor '{name}' has type {key}; the runner handles FLOAT, HALF "
            "and BF16 inputs/outputs",
            hint="export with float32 (or float16) model inputs and outputs",
        )
    return getattr(torch, _TORCH_DTYPES[key])
