"""The Runner contract every backend implements (after Polygraphy's, smaller and typed).

* ``Runner(source, **options)`` only stores settings; heavy work happens in :meth:`activate`.
  ``source`` is a path or an in-memory model (ONNX Runtime: ONNX bytes / ModelProto), so
  verification is "compare two runners" (:func:`vggdeploy.verify.compare_runners`).
* ``with open_runner("onnxruntime", "model.onnx") as r: logits = r.infer(batch)``
* :meth:`infer` is final: it validates the batch (ndarray, float32, N x C x H x W matching the
  ModelSpec, N within the backend's batch bounds, finite) before the backend's ``_infer`` runs, and
  checks that the backend returned float32 logits of shape N x num_classes.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np

from ..errors import UsageError, VggDeployError
from ..spec import InputSpec, ModelSpec

# kind -> "module:Class"; modules are imported only when a runner of that kind is opened.
BACKENDS: dict[str, str] = {
    "torch": "vggdeploy.backends.torch:TorchRunner",
    "onnxruntime": "vggdeploy.backends.onnxruntime:OnnxRuntimeRunner",
    "tensorrt": "vggdeploy.backends.tensorrt.runner:TensorRTRunner",
    "inductor": "vggdeploy.backends.inductor:InductorRunner",
}


IN_MEMORY = "<in-memory model>"


class Runner(ABC):
    """Base class: subclasses implement ``_activate``, ``_deactivate`` and ``_infer``."""

    kind: ClassVar[str] = "base"

    def __init__(self, source: Any, **options: Any) -> None:
        # A path, or an in-memory model for runners that take one (ONNX Runtime: serialized
        # bytes or an onnx.ModelProto; torch: the (module, spec) pair load_checkpoint returns).
        if isinstance(source, (str, os.PathLike)):
            self.source: Any = Path(source)
            self.source_name = str(self.source)
        else:
            self.source = source
            self.source_name = IN_MEMORY
        self.options = options
        self._spec: ModelSpec | None = None
        self._active = False

    # ---- lifecycle -----------------------------------------------------------------------------
    @final
    def activate(self) -> Runner:
        if not self._active:
            self._spec = self._activate()
            self._active = True
        return self

    @final
    def deactivate(self) -> None:
        if self._active:
            try:
                self._deactivate()
            finally:
                self._active = False

    def __enter__(self) -> Runner:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    @property
    def source_path(self) -> Path:
        """The artifact's path; UsageError for an in-memory source this runner cannot take."""
        if not isinstance(self.source, Path):
            raise UsageError(
                f"the {self.kind} runner needs a file path, got {type(self.source).__name__}",
                hint="write the model to a file and pass its path",
            )
        return self.source

    @property
    def is_active(self) -> bool:
        return self._active

    # ---- description ---------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            raise VggDeployError(f"{type(self).__name__} is not active; call activate() first")
        return self._spec

    @final
    def input_spec(self) -> InputSpec:
        return self.spec.input

    def batch_bounds(self) -> tuple[int, int | None]:
        """(min, max) batch size this runner accepts; max None means unbounded."""
        return (1, None)

    # ---- inference -----------------------------------------------------------------------------
    @final
    def infer(self, batch: np.ndarray) -> np.ndarray:
        spec = self.spec
        if not isinstance(batch, np.ndarray):
            raise UsageError(f"infer() takes a numpy.ndarray, got {type(batch).__name__}")
        if batch.dtype != np.float32:
            raise UsageError(
                f"infer() takes float32 input, got {batch.dtype}",
                hint="preprocess images with vggdeploy.data.preprocess (it returns float32)",
            )
        want = spec.input.shape(batch.shape[0] if batch.ndim else 0)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(want[1:]):
            raise UsageError(
                f"input shape {tuple(batch.shape)} does not match the model input "
                f"(N, {spec.input.channels}, {spec.input.height}, {spec.input.width})"
            )
        lo, hi = self.batch_bounds()
        n = batch.shape[0]
        if n < max(1, lo) or (hi is not None and n > hi):
            raise UsageError(
                f"batch size {n} is outside this {self.kind} runner's range "
                f"[{max(1, lo)}, {hi if hi is not None else 'inf'}]",
                hint="split the batch, or rebuild the engine with a larger --max-batch",
            )
        if not np.isfinite(batch).all():
            raise UsageError("input contains NaN or Inf values")
        out = self._infer(np.ascontiguousarray(batch))
        out = np.asarray(out)
        if out.shape != (n, spec.num_classes):
            raise VggDeployError(
                f"{self.kind} runner returned shape {out.shape}, expected {(n, spec.num_classes)}"
            )
        return out.astype(np.float32, copy=False)

    # ---- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _activate(self) -> ModelSpec:
        """Load the artifact; return its ModelSpec."""

    def _deactivate(self) -> None:
        """Release resources (default: nothing)."""

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a validated, contiguous float32 batch; return N x num_classes logits."""


def open_runner(kind: str, source: Any, **options: Any) -> Runner:
    """Create (not yet activate) the runner of ``kind`` for ``source`` (a path, or an in-memory
    model where the runner takes one); imports it lazily."""
    if kind not in BACKENDS:
        raise UsageError(f"unknown backend '{kind}'", hint=f"valid backends: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[kind].split(":")
    runner_cls = getattr(importlib.import_module(module), cls)
    return runner_cls(source, **options)
