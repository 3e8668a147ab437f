"""The Runner contract every backend implements (after Polygraphy's, smaller and typed).

* ``Runner(source, **options)`` only stores settings; heavy work happens in :meth:`activate`.
  ``source`` is a path or an in-memory model (ONNX Runtime: ONNX bytes / ModelProto), so
  verification is "compare two runners" (:func:`vggdeploy.export.verify.compare_runners`).
* ``with open_runner("onnxruntime", "model.onnx") as r: logits = r.infer(batch)``
* Each runner declares its options in ``OPTIONS`` (name -> what it does); any other option is a
  UsageError naming the valid ones, in every runner.
* ``thread_safe`` (may one runner serve several threads at once) defaults to the backend's
  registry entry (backends/registry.py); a runner may set it per instance.
* :meth:`infer` is final: it validates the batch (ndarray, float32, N x C x H x W matching the
  ModelSpec, N within the backend's batch bounds, finite) before the backend's ``_infer`` runs, and
  checks that the backend returned float32 logits of shape N x num_classes.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np

from vggdeploy.backends.registry import BACKENDS, backend_info, thread_safe_default
from vggdeploy.errors import ArtifactError, UsageError, VggDeployError
from vggdeploy.spec import InputSpec, ModelSpec

IN_MEMORY = "<in-memory model>"


class Runner(ABC):
    """Base class: subclasses implement ``_activate``, ``_deactivate`` and ``_infer``."""

    kind: ClassVar[str] = "base"
    #: option name -> what it does; the only options this runner accepts
    OPTIONS: ClassVar[Mapping[str, str]] = {}

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
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise UsageError(
                f"unknown {self.kind} runner option(s): {', '.join(unknown)}",
                hint=f"valid options: {', '.join(sorted(self.OPTIONS)) or '(none)'}",
            )
        self.thread_safe: bool = thread_safe_default(self.kind)

    # ---- lifecycle -----------------------------------------------------------------------------
    @final
    def activate(self) -> Runner:
        if not self._active:
            self._spec = self._activate()
            self._tail = tuple(self._spec.input.shape(1)[1:])  # (C, H, W): infer's shape check
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
        if batch.ndim != 4 or batch.shape[1:] != self._tail:
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
                hint=_batch_hint(self.kind),
            )
        batch = np.ascontiguousarray(batch)
        if not all_finite(batch):
            raise UsageError("input contains NaN or Inf values")
        out = self._infer(batch)
        out = np.asarray(out)
        if out.shape != (n, spec.num_classes):
            raise ArtifactError(
                f"'{self.source}' returned logits of shape {out.shape}, but its ModelSpec "
                f"promises {(n, spec.num_classes)}: the graph contradicts its ModelSpec",
                hint="the file was modified or mixes two models; make it again from the checkpoint",
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


def all_finite(batch: np.ndarray) -> bool:
    """Whether every value of a contiguous float array is finite, as ``np.isfinite(batch).all()``
    answers, at a third of its cost per call (it runs before every inference: 1.2 against 0.5 us
    at one 28x28 image, 5.2 against 2.2 us at 64; AMX Xeon, numpy 1.26). A NaN or an infinity
    makes the sum of squares NaN or infinite, and no squares cancel; a finite sum proves every
    value finite. An infinite sum can also be an overflow of large finite values: only then
    does the exact elementwise test decide."""
    flat = batch.reshape(-1)
    return bool(math.isfinite(flat.dot(flat)) or np.isfinite(flat).all())


def open_runner(kind: str, source: Any, **options: Any) -> Runner:
    """Create (not yet activate) the runner of ``kind`` for ``source`` (a path, or an in-memory
    model where the runner takes one); imports it lazily."""
    return backend_info(kind).runner_class()(source, **options)


def infer_fitted(
    runner: Runner,
    batch: np.ndarray,
    *,
    max_batch: int | None = None,
    call: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Logits for any number of rows within the runner's batch bounds.

    Rows go in slices of at most ``max_batch`` (default: the runner's maximum; unbounded runners
    take the whole batch); a slice shorter than the runner's minimum (an engine profile starting
    above 1) is padded with zero images, whose logits are dropped. ``call`` replaces
    ``runner.infer`` (e.g. the Predictor's locked call).
    """
    infer = call or runner.infer
    if len(batch) == 0:
        return infer(batch)  # infer() says why an empty batch is refused
    lo, hi = runner.batch_bounds()
    lo = max(1, int(lo))
    step = max_batch or hi or len(batch)
    if hi is not None and step > hi:
        raise UsageError(f"max_batch {step} exceeds the {runner.kind} runner's maximum {hi}")
    outs = []
    for start in range(0, len(batch), max(step, 1)):
        part = batch[start : start + step]
        n = len(part)
        if n < lo:
            pad = np.zeros((lo - n, *part.shape[1:]), dtype=part.dtype)
            part = np.concatenate([part, pad], axis=0)
        outs.append(infer(part)[:n])
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)


@dataclass(frozen=True)
class Device:
    """Where a runner or build runs: ``cpu`` or CUDA device ``index``."""

    type: str  # "cpu" | "cuda"
    index: int | None = None  # CUDA device; None: the current one (0)

    @property
    def cuda_index(self) -> int:
        return self.index or 0

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


def parse_device(
    value: str | int | Device | None, default: str = "cpu", *, option: str = "--device"
) -> Device:
    """'cpu', 'cuda', 'cuda:N', a CUDA index (0, '1') or 'auto' (CUDA when torch sees a GPU,
    else CPU) -> Device; UsageError naming ``option`` and the valid forms for anything else.

    The one parser of ``--device`` / ``device=`` for every runner, build, training and command.
    """
    if isinstance(value, Device):
        return value
    text = str(default if value is None or value == "" else value).strip().lower()
    if text == "auto":  # the GPU where torch sees one (bench picks its GPU rows by itself)
        text = "cuda" if _cuda_available() else "cpu"
    if text == "cpu":
        return Device("cpu")
    if text == "cuda":
        return Device("cuda")
    index = text[len("cuda:") :] if text.startswith("cuda:") else text
    # ASCII digits only: str.isdigit() also takes '٣' and '²' (which int() then refuses)
    if index.isascii() and index.isdigit() and not isinstance(value, bool):
        if int(index) > _MAX_CUDA_INDEX:
            raise UsageError(f"CUDA device index {index} is out of range (0..{_MAX_CUDA_INDEX})")
        return Device("cuda", int(index))
    raise UsageError(f"{option}: unknown device '{value}'", hint="use cpu, cuda, cuda:N or auto")


# cudaSetDevice and torch take the index as a C int; a real machine has a handful of GPUs
_MAX_CUDA_INDEX = 2**31 - 1


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


__all__ = ["BACKENDS", "Device", "Runner", "infer_fitted", "open_runner", "parse_device"]


def _batch_hint(kind: str) -> str:
    from vggdeploy.backends.registry import BACKENDS

    info = BACKENDS.get(kind)
    return info.batch_hint() if info is not None else "split the batch"
