"""Provenance records: what a derived artifact records about the checkpoint (and file) it was
made from, and the one comparison of a recorded hash with a current one (:func:`mismatch`).

Every artifact records where it came from: an ONNX model the sha256 of the checkpoint's weights
(``vggdeploy.checkpoint_sha256``), a variant also the sha256 of the ``model.onnx`` it was derived
from (``vggdeploy.source_onnx_sha256``), an engine its source ONNX (file name and sha256, sidecar)
and the ModelSpec of that ONNX (which names the weights' sha256), an AOTInductor package the
weights' sha256. *What* an artifact records is a backend fact: each registry entry names a
``provenance`` hook (``path, run -> Recorded``); the verdict on an artifact is
:mod:`vggdeploy.backends.freshness`, which reads the hooks through the registry.

Where the sources are looked up (the "run" of an artifact):

* an explicit ``run`` (bench passes its run folder: the reference model it compares against),
* else the folder holding the artifact, or - for a file in a sub-folder that the backend's
  ``run_globs`` name (``engines/*.engine``) - the folder above it; the first of these that holds
  a checkpoint. An engine built into ``./engines/`` outside any run therefore has no run: its
  verdict is ``unknown`` (copy it into ``RUN/engines/`` to have it checked).

A verdict is ``fresh`` (every recorded hash that could be compared matches), ``stale`` (one
differs: the reason names the file and both short hashes) or ``unknown`` (nothing to compare with,
e.g. an .onnx copied alone; allowed, and said). A run folder is the checkpoint itself: fresh.
``freshness.check_fresh`` turns ``stale`` into an ArtifactError (exit 4) whose hint names the
command that makes the artifact again. Consumers: bench (a ``stale`` row, never measured),
``load`` / ``predict``, ``triton-repo``, ``build-engine`` and the precision stage
(:func:`mismatch`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

FRESH, STALE, UNKNOWN = "fresh", "stale", "unknown"
SHORT = 12  # hex digits of a sha256 shown in messages


@dataclass(frozen=True)
class Recorded:
    """What an artifact records about its origin (returned by a backend's provenance hook)."""

    checkpoint_sha256: str | None = None  # sha256 of the weights it was made from
    source: tuple[str, str | None] | None = None  # (file name in the run, its recorded sha256)
    action: str = ""  # what makes it again, e.g. "re-export: vggdeploy export RUN"
    is_checkpoint: bool = False  # the artifact is the checkpoint itself (a run folder)


@dataclass(frozen=True)
class Verdict:
    state: str  # FRESH | STALE | UNKNOWN
    reason: str
    artifact: Path
    action: str = ""
    checked: tuple[str, ...] = field(default=())  # the sources compared (file paths)

    @property
    def fresh(self) -> bool:
        return self.state == FRESH

    @property
    def stale(self) -> bool:
        return self.state == STALE


def mismatch(
    recorded: str | None, current: str | None, *, artifact: str, source: str, what: str
) -> str | None:
    """None when ``recorded`` equals ``current``; else why ``artifact`` is not made from
    ``source`` (its ``what``, e.g. "checkpoint sha256"). The one comparison of
    recorded hashes."""
    if not recorded:
        return f"{artifact} records no {what}"
    if current is None:
        return f"{source} is missing"
    if recorded != current:
        return (
            f"{artifact} was made from {what} {recorded[:SHORT]}, but {source} is now "
            f"{current[:SHORT]}"
        )
    return None


def run_candidates(path: Path, globs: tuple[str, ...]) -> list[Path]:
    """The folder holding ``path`` and, when a run glob puts it in a sub-folder, the run above."""
    out = [path.parent]
    for pattern in globs:
        parts = Path(pattern).parts
        depth = len(parts) - 1
        if depth and len(path.parents) > depth:
            tail = path.parts[-len(parts) :]
            if all(fnmatch(a, b) for a, b in zip(tail, parts, strict=True)):
                out.append(path.parents[depth])
    return list(dict.fromkeys(out))


# ---- hooks of the backends whose artifacts are checkpoints or ONNX files ------------------------


def checkpoint_provenance(path: Path, run: Path) -> Recorded:
    """A run folder / model.json / model.safetensors is the source itself."""
    return Recorded(is_checkpoint=True)


def onnx_provenance(path: Path, run: Path) -> Recorded:
    """An ONNX model records the checkpoint's sha256; a variant also its model.onnx's sha256."""
    from vggdeploy.artifacts.onnx_meta import META_CHECKPOINT, META_SOURCE_ONNX, load_onnx
    from vggdeploy.artifacts.variants import VARIANTS_BY_TAG, split_variant

    props = {p.key: p.value for p in load_onnx(path, load_external_data=False).metadata_props}
    tag, stem = split_variant(path) or ("fp32", path.stem)
    cmd = ["vggdeploy", "export", str(run)]
    source = None
    if tag != "fp32":
        cmd += ["--precision", VARIANTS_BY_TAG[tag].precision]
        source = (f"{stem}.onnx", props.get(META_SOURCE_ONNX))
    return Recorded(props.get(META_CHECKPOINT), source, f"re-export: {shlex.join(cmd)}")


def weights_sha256_of(spec: Any) -> str | None:
    """The weights' sha256 a ModelSpec carries in its provenance (copied from model.json)."""
    weights = spec.provenance.get("weights") if spec is not None else None
    return weights.get("sha256") if isinstance(weights, dict) else None


__all__ = ["FRESH", "STALE", "UNKNOWN", "Recorded", "Verdict", "mismatch", "run_candidates"]
