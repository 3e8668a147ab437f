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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy import _args
from vggdeploy.backends.base import Runner, infer_fitted, open_runner, parse_device
from vggdeploy.backends.freshness import check_fresh
from vggdeploy.backends.registry import (
    BackendInfo,
    backend_for_path,
    backend_info,
    supported_artifacts,
)
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.serve.inputs import InputWarning, to_batch
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
    # doubts about single inputs (a light background), each naming its row; empty when none
    warnings: tuple[InputWarning, ...] = ()

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
                "warnings": [w.message for w in self.warnings if w.row == i],
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
        self._closed = False
        labels = self.spec.class_names or tuple(str(i) for i in range(self.spec.num_classes))
        self.labels: tuple[str, ...] = tuple(labels)

    @property
    def backend(self) -> str:
        return self.runner.kind

    # ---- inference -------------------------------------------------------------------------------
    def predict(self, images: Any, *, preprocessed: bool = False) -> Predictions:
        """Predict classes for images: arrays, tensors, PIL images, bytes or file paths, read as
        README "Accepted inputs" says. ``preprocessed=True`` states that float arrays are
        already the model's normalised N x C x H x W input (never guessed from the values)."""
        self._check_open()
        batch = to_batch(images, self.spec, preprocessed=preprocessed)
        logits = self.logits(batch.tensor)
        check_finite_logits(logits, list(batch.sources), self.runner.source)
        ids = logits.argmax(axis=1).astype(np.int64)
        if batch.warnings:
            # one line on stderr (Python's default filter shows it once per call site); each
            # row's reason is in Predictions.warnings
            warnings.warn(
                "some images have a light background, unlike the model's training data: their "
                "answers are unreliable (see Predictions.warnings)",
                InputQualityWarning,
                stacklevel=2,
            )
        return Predictions(
            class_ids=ids,
            probabilities=softmax(logits),
            class_names=tuple(self.labels[i] for i in ids),
            logits=logits,
            labels=self.labels,
            sources=batch.sources,
            warnings=batch.warnings,
        )

    __call__ = predict

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x num_classes logits for a preprocessed float32 N x C x H x W batch."""
        self._check_open()
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
            self._closed = True
            self.runner.deactivate()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(
                f"the model is closed: this {self.backend} Predictor of {self.runner.source} was "
                "closed (close() or the end of its `with` block)",
                hint="load it again with vggdeploy.load(...), or predict inside the `with` block",
            )

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
    info = backend_info(backend) if backend is not None else None  # names the valid ones
    if options.get("device") is not None:
        parse_device(options["device"])  # refuse a malformed device before a backend starts
    kind, source = artifact_backend(path)
    if info is not None and source.is_dir() and not info.opens_folders:
        kind, source = info.name, run_artifact(info, source)
    check_fresh(source)  # an artifact older than the checkpoint beside it is refused (exit 4)
    runner = open_runner(info.name if info else kind, source, **options)
    try:
        return Predictor(runner, max_batch=max_batch, thread_safe=thread_safe)
    except BaseException:
        runner.deactivate()
        raise


def run_artifact(info: BackendInfo, run: Path) -> Path:
    """The artifact of backend ``info`` in the run folder ``run`` (``--backend onnxruntime RUN``
    opens RUN/model.onnx): the backend's usual file where it has one (never a variant in its
    place), else its only artifact there; refused when it is missing or the choice ambiguous."""
    found = info.discover(run)
    others = ", ".join(str(p.relative_to(run)) for p in found)
    if info.run_files:
        usual = run / info.run_files[0]
        if usual.is_file():
            return usual
        also = f"; or pass one of {others}" if found else ""
        raise ArtifactError(
            f"no {info.name} model in the run folder '{run}': {usual.name} is missing",
            hint=info.how_to_make.replace("RUN", str(run)) + also,
        )
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"the run folder '{run}' holds {len(found)} {info.name} artifacts ({others})",
            hint=f"pass the one to use instead of the folder, e.g. {found[0]}",
        )
    raise ArtifactError(
        f"no {info.name} model ({info.label}) in the run folder '{run}'",
        hint=info.how_to_make.replace("RUN", str(run)),
    )


class InputQualityWarning(UserWarning):
    """Inputs answered although unlike the training data (details: Predictions.warnings)."""


__all__ = [
    "DEFAULT_MAX_CHUNK",
    "InputQualityWarning",
    "Predictions",
    "Predictor",
    "artifact_backend",
    "load",
    "run_artifact",
    "softmax",
]


def _larger_batch_hint(kind: str) -> str:
    from vggdeploy.backends.registry import BACKENDS

    info = BACKENDS.get(kind)
    return info.larger_batch if info and info.larger_batch else "use a smaller max_batch"
