"""``vggdeploy.load(path)`` -> :class:`Predictor`: images in, class ids / probabilities / names out.

The artifact's ModelSpec (carried by every artifact) configures everything: preprocessing, input
shape, class names. The backend follows from the artifact type:

=========================================  ===========
artifact                                   backend
=========================================  ===========
run folder, ``model.json``, ``.safetensors``  torch
``.onnx``                                  onnxruntime
``.engine`` (or its ``.engine.json``)      tensorrt
``.pt2``                                   inductor
=========================================  ===========

Thread safety: one Predictor may be shared by many threads. Preprocessing and postprocessing are
pure NumPy on per-call data; only the runner call can share state. Backends whose runtime allows
concurrent calls run unlocked, the others behind a lock (see :data:`THREAD_SAFE_BACKENDS`).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import BACKENDS, Runner, open_runner
from ..errors import ArtifactError, BackendUnavailableError, UsageError
from ..spec import ModelSpec
from .inputs import to_batch

# Why each backend may (True) or may not (False) be called from several threads at once:
# - torch: eager forward under inference_mode reads parameters only; autograd state is
#   thread-local. Safe on CPU and CUDA (same default stream).
# - onnxruntime: InferenceSession.run() is documented as thread-safe.
# - tensorrt: one IExecutionContext holds the bound shapes and device buffers of one call at a
#   time; concurrent calls would overwrite each other's bindings -> lock.
# - inductor: the AOTInductor package loader runs a fixed pool of model instances (one by
#   default); we lock rather than rely on its internal queueing.
# A runner may override this with a ``thread_safe`` attribute; unknown kinds are locked.
THREAD_SAFE_BACKENDS: dict[str, bool] = {
    "torch": True,
    "onnxruntime": True,
    "tensorrt": False,
    "inductor": False,
}

# Chunk size when the backend accepts any batch size: bounds peak memory for large inputs.
DEFAULT_MAX_CHUNK = 256

SUPPORTED_ARTIFACTS = (
    "a run folder / model.json / model.safetensors (torch)",
    ".onnx (onnxruntime)",
    ".engine (tensorrt)",
    ".pt2 (inductor)",
)


def artifact_backend(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """(backend kind, path to open) for an artifact, chosen from what the path is."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "torch", p
    if not p.exists():
        raise ArtifactError(
            f"model not found: '{p}'",
            hint="pass " + ", ".join(SUPPORTED_ARTIFACTS),
        )
    if name.endswith(".engine.json"):  # the sidecar: open its engine
        return "tensorrt", p.with_name(p.name[: -len(".json")])
    suffix = p.suffix.lower()
    if suffix in (".json", ".safetensors"):
        return "torch", p
    kinds = {".onnx": "onnxruntime", ".engine": "tensorrt", ".pt2": "inductor"}
    if suffix in kinds:
        return kinds[suffix], p
    raise UsageError(
        f"cannot tell what kind of model '{p}' is (suffix '{p.suffix}')",
        hint="supported: " + "; ".join(SUPPORTED_ARTIFACTS),
    )


@dataclass(frozen=True)
class Predictions:
    """Results for a batch, row i for input image i."""

    class_ids: np.ndarray  # int64 (N,)
    probabilities: np.ndarray  # float32 (N, num_classes), softmax of the logits
    class_names: tuple[str, ...]  # name of the predicted class per image
    logits: np.ndarray  # float32 (N, num_classes)
    labels: tuple[str, ...]  # all class names of the model, index = class id
    sources: tuple[str, ...] = ()  # where each row came from (file name, array index)

    def __len__(self) -> int:
        return int(self.class_ids.shape[0])

    @property
    def confidences(self) -> np.ndarray:
        """Probability of the predicted class per image."""
        return self.probabilities[np.arange(len(self)), self.class_ids]

    def top(self, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """Per image, the k most likely (class id, name, probability), best first."""
        k = max(1, min(k, self.probabilities.shape[1]))
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return [
            [(int(c), self.labels[c], float(self.probabilities[i, c])) for c in row]
            for i, row in enumerate(order)
        ]

    def to_records(self, top_k: int = 3) -> list[dict[str, Any]]:
        """JSON-ready list: one dict per image."""
        tops = self.top(top_k)
        return [
            {
                "source": self.sources[i] if i < len(self.sources) else f"images[{i}]",
                "class_id": int(self.class_ids[i]),
                "class_name": self.class_names[i],
                "probability": float(self.confidences[i]),
                "top": [{"class_id": c, "class_name": n, "probability": p} for c, n, p in tops[i]],
            }
            for i in range(len(self))
        ]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def check_finite_logits(logits: np.ndarray, sources: list[str], artifact: object) -> None:
    """A model answering NaN/Inf on finite input is broken: refuse, never a softmax of NaN."""
    bad = ~np.isfinite(logits).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = sources[first] if first < len(sources) else f"images[{first}]"
        raise ArtifactError(
            f"the model {artifact} produced non-finite outputs (NaN/Inf) for {int(bad.sum())} of "
            f"{len(bad)} images (first: {where})",
            hint="the artifact is broken for this input (fp16/int8 overflow or corrupt weights): "
            "re-export it from its checkpoint, or use the fp32 artifact",
        )


# "cpu", "cuda" or "cuda:N" (TensorRT also takes a bare GPU index)
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def check_device(device: object) -> None:
    """Refuse a malformed ``device=`` before any backend reads it."""
    if device is None or (isinstance(device, int) and not isinstance(device, bool) and device >= 0):
        return
    if not (isinstance(device, str) and _DEVICE.fullmatch(device)):
        raise UsageError(
            f"invalid device {device!r}", hint="use 'cpu', 'cuda' or 'cuda:N' (N = GPU index)"
        )


class Predictor:
    """Runs a Runner on user images: preprocess, chunk to the backend's batch bounds, softmax."""

    def __init__(
        self, runner: Runner, *, max_batch: int | None = None, thread_safe: bool | None = None
    ) -> None:
        self.runner = runner.activate()
        self.spec: ModelSpec = runner.spec
        lo, hi = runner.batch_bounds()
        self.min_batch = max(1, int(lo))
        limit = DEFAULT_MAX_CHUNK if hi is None else int(hi)
        if max_batch is not None:
            if max_batch < 1:
                raise UsageError(f"max_batch must be >= 1, got {max_batch}")
            if hi is not None and max_batch > hi:
                raise UsageError(
                    f"max_batch {max_batch} exceeds the {runner.kind} runner's maximum {hi}",
                    hint="rebuild the engine with a larger --max-batch",
                )
            limit = max_batch
        if limit < self.min_batch:
            raise UsageError(f"max_batch {limit} is below the runner's minimum batch {lo}")
        self.max_batch = limit
        if thread_safe is None:
            thread_safe = getattr(runner, "thread_safe", None)
        if thread_safe is None:
            thread_safe = THREAD_SAFE_BACKENDS.get(runner.kind, False)
        self.thread_safe = bool(thread_safe)
        self._lock = threading.Lock()
        labels = self.spec.class_names or tuple(str(i) for i in range(self.spec.num_classes))
        self.labels: tuple[str, ...] = tuple(labels)

    @property
    def backend(self) -> str:
        return self.runner.kind

    # ---- inference -------------------------------------------------------------------------------
    def predict(self, images: Any) -> Predictions:
        """Predict classes for uint8 images, preprocessed float32 batches or image file paths."""
        batch, sources = to_batch(images, self.spec)
        logits = self.logits(batch)
        check_finite_logits(logits, sources, self.runner.source)
        ids = logits.argmax(axis=1).astype(np.int64)
        return Predictions(
            class_ids=ids,
            probabilities=softmax(logits),
            class_names=tuple(self.labels[i] for i in ids),
            logits=logits,
            labels=self.labels,
            sources=tuple(sources),
        )

    __call__ = predict

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x num_classes logits for a preprocessed float32 N x C x H x W batch."""
        n = batch.shape[0]
        if n == 0:
            raise UsageError("no images given (empty batch)")
        outs = [
            self._run_chunk(batch[start : start + self.max_batch])
            for start in range(0, n, self.max_batch)
        ]
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)

    def _run_chunk(self, chunk: np.ndarray) -> np.ndarray:
        n = chunk.shape[0]
        if n < self.min_batch:
            # The engine's profile starts above n: pad with zeros to its minimum only.
            pad = np.zeros((self.min_batch - n, *chunk.shape[1:]), dtype=np.float32)
            chunk = np.concatenate([chunk, pad], axis=0)
        if self.thread_safe:
            out = self.runner.infer(chunk)
        else:
            with self._lock:
                out = self.runner.infer(chunk)
        return out[:n]

    # ---- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self.runner.deactivate()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.spec.input.shape(1)[1:]))
        return (
            f"Predictor({self.runner.source}, backend={self.backend}, preset={self.spec.preset}, "
            f"input={shape}, max_batch={self.max_batch})"
        )


def load(
    path: str | os.PathLike[str],
    *,
    backend: str | None = None,
    max_batch: int | None = None,
    thread_safe: bool | None = None,
    **options: Any,
) -> Predictor:
    """Open an artifact and return a ready :class:`Predictor`.

    ``backend`` overrides the kind chosen from the artifact; ``options`` go to the runner
    (e.g. ``device="cuda"`` for torch, provider settings for onnxruntime).
    """
    if backend is not None and backend not in BACKENDS:
        raise UsageError(
            f"unknown backend '{backend}'", hint=f"valid backends: {', '.join(BACKENDS)}"
        )
    check_device(options.get("device"))
    kind, source = artifact_backend(path)
    kind = backend or kind
    try:
        runner = open_runner(kind, source, **options)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("vggdeploy."):
            raise BackendUnavailableError(
                f"the {kind} backend is not part of this vggdeploy installation ({exc})",
                hint="upgrade vggdeploy, or load another artifact type",
            ) from exc
        raise
    try:
        return Predictor(runner, max_batch=max_batch, thread_safe=thread_safe)
    except BaseException:
        runner.deactivate()
        raise


__all__ = [
    "DEFAULT_MAX_CHUNK",
    "Predictions",
    "Predictor",
    "THREAD_SAFE_BACKENDS",
    "artifact_backend",
    "load",
    "softmax",
]
