"""``vggdeploy.load(path)`` -> :class:`Predictor`: images in, class ids / probabilities / names out.

The artifact's ModelSpec (carried by every artifact) configures everything: preprocessing, input
shape, class names. The backend follows from the artifact type, as the backend registry says
(:func:`vggdeploy.backends.registry.backend_for_path`): a run folder, ``model.json`` or
``.safetensors`` is torch, ``.onnx`` onnxruntime, ``.engine`` (or its ``.engine.json``) tensorrt,
``.pt2`` inductor.

Thread safety: one Predictor may be shared by many threads. Preprocessing and postprocessing are
pure NumPy on per-call data; only the runner call can share state. Runners whose runtime allows
concurrent calls (``runner.thread_safe``, from the registry entry) run unlocked, the others behind
a lock.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy import _args
from vggdeploy.backends.base import Runner, infer_fitted, open_runner, parse_device
from vggdeploy.backends.freshness import check_fresh
from vggdeploy.backends.registry import backend_for_path, backend_info, supported_artifacts
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.serve.inputs import to_batch
from vggdeploy.spec import ModelSpec

# Chunk size when the backend accepts any batch size: bounds peak memory for large inputs.
DEFAULT_MAX_CHUNK = 256


def artifact_backend(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """(backend kind, path to open) for an artifact, chosen from what the path is."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"model not found: '{p}'", hint="pass " + supported_artifacts())
    found = backend_for_path(p)
    if found is None:
        raise UsageError(
            f"cannot tell what kind of model '{p}' is (suffix '{p.suffix}')",
            hint="supported: " + supported_artifacts(),
        )
    info, source = found
    return info.name, source


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
                    hint=_larger_batch_hint(runner.kind),
                )
            limit = max_batch
        if limit < self.min_batch:
            raise UsageError(f"max_batch {limit} is below the runner's minimum batch {lo}")
        self.max_batch = limit
        self.thread_safe = bool(runner.thread_safe if thread_safe is None else thread_safe)
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
        if batch.shape[0] == 0:
            raise UsageError("no images given (empty batch)")
        return infer_fitted(self.runner, batch, max_batch=self.max_batch, call=self._call)

    def _call(self, chunk: np.ndarray) -> np.ndarray:
        if self.thread_safe:
            return self.runner.infer(chunk)
        with self._lock:
            return self.runner.infer(chunk)

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
    _args.path("path", path)
    _args.optional_integer("max_batch", max_batch, min=1)
    _args.optional_boolean("thread_safe", thread_safe)
    if backend is not None:
        _args.text("backend", backend)
        backend_info(backend)  # UsageError naming the valid backends
    if options.get("device") is not None:
        parse_device(options["device"])  # refuse a malformed device before a backend starts
    kind, source = artifact_backend(path)
    check_fresh(source)  # an artifact older than the checkpoint beside it is refused (exit 4)
    runner = open_runner(backend or kind, source, **options)
    try:
        return Predictor(runner, max_batch=max_batch, thread_safe=thread_safe)
    except BaseException:
        runner.deactivate()
        raise


__all__ = [
    "DEFAULT_MAX_CHUNK",
    "Predictions",
    "Predictor",
    "artifact_backend",
    "load",
    "softmax",
]


def _larger_batch_hint(kind: str) -> str:
    from vggdeploy.backends.registry import BACKENDS

    info = BACKENDS.get(kind)
    return info.larger_batch if info and info.larger_batch else "use a smaller max_batch"
