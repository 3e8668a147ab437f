"""The served model's interface and its inference callable: Triton requests in, one response each.

Interface (README "Serving with Triton"), per request, exactly one of these inputs:

==================  =====  ===========  ==================================================
input               type   shape        what
==================  =====  ===========  ==================================================
``image``           BYTES  [N, 1]       encoded image files (PNG, JPEG, ...), one per row
``image_base64``    BYTES  [N, 1]       the same, base64 text (for JSON bodies, e.g. curl)
``input`` (spec)    FP32   [N, C, H, W] the preprocessed tensor the ONNX model takes
==================  =====  ===========  ==================================================

Every input goes through :func:`vggdeploy.serve.inputs.to_batch`, the one decoding path, so a PNG
sent to the server gets exactly what ``vggdeploy predict`` gives. Outputs: ``logits`` (the spec's
output name) and ``probabilities`` FP32 [N, classes], ``class_id`` INT64 [N, 1], ``class_name``
BYTES [N, 1].

Errors are per request: a request that cannot be answered gets a response carrying only
:data:`ERROR_OUTPUT` (its message); the proxy model in the server turns it into an error response
with INVALID_ARG (HTTP 400, gRPC INVALID_ARGUMENT) for that request alone, while the other
requests of the same dynamic batch are answered. Raising instead would fail the whole batch with
INTERNAL (pytriton's behaviour).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy._io import sha256_file
from vggdeploy.artifacts.checkpoint import SPEC_NAME, WEIGHTS_NAME
from vggdeploy.artifacts.provenance import run_candidates
from vggdeploy.backends.registry import backend_for_path
from vggdeploy.errors import VggDeployError
from vggdeploy.serve.inputs import to_batch
from vggdeploy.serve.predictor import Predictor, softmax

INPUT_IMAGE = "image"
INPUT_IMAGE_BASE64 = "image_base64"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_ID = "class_id"
OUTPUT_CLASS_NAME = "class_name"
# The one output of an error response; never part of the model's declared outputs.
ERROR_OUTPUT = "vggdeploy_error"


class RequestError(Exception):
    """A request that cannot be answered: its message goes back to that client (HTTP 400)."""


def error_text(exc: BaseException) -> str:
    """One line for the client: the message and, for vggdeploy errors, the hint."""
    if isinstance(exc, VggDeployError):
        return exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return str(exc)


# ---- the artifact on disk vs the one loaded ------------------------------------------------------
def artifact_files(source: Path) -> list[Path]:
    """The files whose bytes make the served model: a run folder's checkpoint (weights + spec),
    otherwise the artifact's files as the registry names them (an engine's sidecar, an IR's
    weights)."""
    if source.is_dir():
        return _checkpoint_in(source)
    found = backend_for_path(source)
    return found[0].files_of(found[1]) if found is not None else [source]


def _checkpoint_in(folder: Path) -> list[Path]:
    return [p for p in (folder / WEIGHTS_NAME, folder / SPEC_NAME) if p.exists()]


def checkpoint_files(source: Path) -> list[Path]:
    """The checkpoint an artifact file was made from, where its run folder keeps one (the folders
    ``provenance.run_candidates`` names from the backend's run globs): its provenance is judged
    against these."""
    found = backend_for_path(source)
    if source.is_dir() or found is None:
        return []
    folders = run_candidates(found[1], found[0].run_globs)
    return [p for folder in folders for p in _checkpoint_in(folder)]


class ArtifactWatch:
    """sha256 of the served files at load; :meth:`check` refuses requests once the artifact is
    stale: its own files changed, or the checkpoint it was made from changed so that it is no
    longer what the run's checkpoint makes (the provenance verdict ``load`` applies at start).

    The served model stays the one in memory, but answering from it then would report a model the
    artifact no longer is. The check is a ``stat`` per batch; a served file whose size/mtime/inode
    moved is hashed again (a ``touch`` alone is not a change); a moved checkpoint file makes the
    provenance be judged again.
    """

    def __init__(self, source: Path) -> None:
        self.source = source
        self.files = artifact_files(source)
        self.sha256 = {p: sha256_file(p) for p in self.files}
        self._stat = {p: _stat_key(p) for p in self.files}
        self.checkpoint = checkpoint_files(source)
        self._checkpoint_stat = {p: _stat_key(p) for p in self.checkpoint}
        self._lock = threading.Lock()

    @property
    def primary_sha256(self) -> str:
        return self.sha256[self.files[0]] if self.files else ""

    def check(self) -> None:
        with self._lock:
            for p in self.files:
                key = _stat_key(p)
                if key == self._stat[p]:
                    continue
                now = sha256_file(p) if key is not None else None
                if now != self.sha256[p]:
                    what = "was deleted" if now is None else f"now has sha256 {now[:12]}"
                    raise RequestError(
                        f"stale artifact: '{p}' changed on disk since the server loaded it "
                        f"(sha256 {self.sha256[p][:12]}; it {what}); this server will not answer "
                        "for a model the artifact no longer is (hint: restart `vggdeploy serve` to "
                        "serve the new file)"
                    )
                self._stat[p] = key
            now_stat = {p: _stat_key(p) for p in self.checkpoint}
            if now_stat != self._checkpoint_stat:
                _check_provenance(self.source)
                self._checkpoint_stat = now_stat


def _check_provenance(source: Path) -> None:
    from vggdeploy.backends.freshness import check_fresh

    try:
        check_fresh(source)
    except VggDeployError as exc:
        raise RequestError(
            f"{error_text(exc)}; this server still holds the model it loaded, but will not "
            "answer for an artifact its run no longer makes (hint: re-make it, then restart "
            "`vggdeploy serve`)"
        ) from exc


def _stat_key(p: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


# ---- the inference callable ----------------------------------------------------------------------
@dataclass(frozen=True)
class Interface:
    """Names of the served model's tensors (the FP32 input and logits follow the ModelSpec, as in
    the ``triton-repo`` config, so clients of either deployment send the same tensor)."""

    tensor_input: str
    logits_output: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (INPUT_IMAGE, INPUT_IMAGE_BASE64, self.tensor_input)


class InferenceCallable:
    """pytriton inference callable: ``requests -> responses``, one response dict per request.

    Valid requests of a dynamic batch run as one model call (their rows concatenated); each
    response holds exactly its own request's rows.
    """

    def __init__(self, predictor: Predictor, watch: ArtifactWatch) -> None:
        self.predictor = predictor
        self.watch = watch
        spec = predictor.spec
        self.interface = Interface(spec.input.name, spec.output_name)
        self.labels = np.array([s.encode() for s in predictor.labels], dtype=np.object_)

    def __call__(self, requests: list[Any]) -> list[dict[str, np.ndarray]]:
        try:
            self.watch.check()
        except RequestError as exc:
            return [_error(exc) for _ in requests]
        batches: list[np.ndarray | None] = []
        responses: list[dict[str, np.ndarray] | None] = []
        for request in requests:
            try:
                batches.append(self.decode(request))
                responses.append(None)
            except (RequestError, VggDeployError) as exc:
                batches.append(None)
                responses.append(_error(exc))
            except Exception as exc:  # a decoder defect must not fail the batch's other requests
                traceback.print_exc()
                batches.append(None)
                responses.append(_error(RequestError(f"cannot decode this request ({exc!r})")))
        good = [b for b in batches if b is not None]
        if good:
            try:
                logits = self.predictor.logits(np.concatenate(good, axis=0))
            except VggDeployError as exc:  # e.g. a TensorRT engine refusing at run time
                return [r or _error(exc) for r in responses]
            start = 0
            for i, b in enumerate(batches):
                if b is not None:
                    responses[i] = self.respond(logits[start : start + len(b)])
                    start += len(b)
        return [r if r is not None else _error(RequestError("no response")) for r in responses]

    # ---- one request -----------------------------------------------------------------------------
    def decode(self, request: Any) -> np.ndarray:
        """float32 N x C x H x W of one request, through the one input path (to_batch)."""
        names = set(request.keys())
        given = [n for n in self.interface.inputs if n in names]
        if len(given) != 1:
            raise RequestError(
                f"send exactly one of the inputs {', '.join(self.interface.inputs)}; got "
                f"{', '.join(sorted(names)) or 'none'}"
            )
        name = given[0]
        try:
            return self._decode(name, np.asarray(request[name]))
        except VggDeployError as exc:  # the input path's message, prefixed with the input
            raise RequestError(f"input '{name}': {error_text(exc)}") from exc

    def _decode(self, name: str, arr: np.ndarray) -> np.ndarray:
        if arr.shape[:1] == (0,) or arr.size == 0:
            raise RequestError(f"input '{name}' holds no images (empty batch, shape {arr.shape})")
        if name == self.interface.tensor_input:  # stated: never guessed from the values
            batch, _ = to_batch(arr, self.predictor.spec, preprocessed=True)
            return batch
        if arr.ndim != 2 or arr.shape[1] != 1:
            raise RequestError(f"input '{name}' must have shape [N, 1], got {list(arr.shape)}")
        items = [_element_bytes(x) for x in arr[:, 0]]
        if name == INPUT_IMAGE_BASE64:
            items = [_b64decode(x, i) for i, x in enumerate(items)]
        batch, _ = to_batch(items, self.predictor.spec)
        if batch.shape[0] != len(items):
            raise RequestError(
                f"input '{name}': {len(items)} elements held {batch.shape[0]} images; send one "
                "encoded image per element"
            )
        return batch

    def respond(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        if not np.isfinite(logits).all():
            return _error(RequestError("the model produced non-finite outputs (NaN/Inf)"))
        ids = logits.argmax(axis=1).astype(np.int64)
        return {
            self.interface.logits_output: logits.astype(np.float32, copy=False),
            OUTPUT_PROBABILITIES: softmax(logits),
            OUTPUT_CLASS_ID: ids[:, None],
            OUTPUT_CLASS_NAME: self.labels[ids][:, None],
        }


def _element_bytes(x: Any) -> bytes:
    return bytes(x) if isinstance(x, (bytes, bytearray, np.bytes_)) else str(x).encode()


def _b64decode(text: bytes, index: int) -> bytes:
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(
            f"input '{INPUT_IMAGE_BASE64}'[{index}] is not valid base64 ({exc})"
        ) from exc


def _error(exc: BaseException) -> dict[str, np.ndarray]:
    return {ERROR_OUTPUT: np.array([error_text(exc).encode()], dtype=np.object_)}


__all__ = [
    "ERROR_OUTPUT",
    "INPUT_IMAGE",
    "INPUT_IMAGE_BASE64",
    "OUTPUT_CLASS_ID",
    "OUTPUT_CLASS_NAME",
    "OUTPUT_PROBABILITIES",
    "ArtifactWatch",
    "InferenceCallable",
    "Interface",
    "RequestError",
    "artifact_files",
    "error_text",
]
