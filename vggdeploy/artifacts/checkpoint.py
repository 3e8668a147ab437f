"""Checkpoints: ``model.safetensors`` (weights, never pickle) + ``model.json`` (the ModelSpec).

``model.json`` is the ModelSpec JSON; its provenance keys carry ``metrics``, ``training``, ``data``
and ``weights`` (file name and sha256). Loading checks the JSON, the sha256 of the weights, and that
every tensor matches the network the spec describes, before anything is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vggdeploy._io import sha256_bytes, write_files
from vggdeploy.errors import ArtifactError
from vggdeploy.spec import ModelSpec

WEIGHTS_NAME = "model.safetensors"
SPEC_NAME = "model.json"


def resolve_checkpoint(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(model.json, model.safetensors) for a run folder, a model.json or a .safetensors path."""
    p = Path(path)
    if p.is_dir():
        spec_path, weights_path = p / SPEC_NAME, p / WEIGHTS_NAME
    elif p.suffix == ".json":
        spec_path, weights_path = p, p.with_name(WEIGHTS_NAME)
    elif p.suffix == ".safetensors":
        spec_path, weights_path = p.with_name(SPEC_NAME), p
    elif not p.exists():
        raise ArtifactError(
            f"checkpoint not found: '{p}'",
            hint="pass a run folder written by `vggdeploy train --out DIR`",
        )
    else:
        raise ArtifactError(
            f"'{p}' is not a checkpoint (expected a run folder, model.json or model.safetensors)"
        )
    for f in (spec_path, weights_path):
        if not f.is_file():
            raise ArtifactError(
                f"checkpoint file missing: '{f}'",
                hint="train first (`vggdeploy train --out DIR`), or point at the right run folder",
            )
    return spec_path, weights_path


def read_spec(path: str | os.PathLike[str]) -> ModelSpec:
    spec_path, _ = resolve_checkpoint(path)
    try:
        text = spec_path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read '{spec_path}': {exc.strerror or exc}") from exc
    return ModelSpec.from_json(text, source=str(spec_path))


def state_dict_to_bytes(state: dict[str, Any]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in state.items()})


def bytes_to_state_dict(blob: bytes, *, source: str) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(blob)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise ArtifactError(
            f"'{source}' is not a readable safetensors file ({exc})",
            hint="the file is corrupt or truncated; train again or restore it",
        ) from exc


def save_checkpoint(out_dir: str | os.PathLike[str], model: Any, spec: ModelSpec) -> Path:
    """Write weights and JSON as one step (both temp files complete before either is renamed,
    so a full disk leaves the previous pair); returns the run folder."""
    out = Path(out_dir)
    blob = state_dict_to_bytes(model.state_dict())
    spec = spec.with_provenance(weights={"file": WEIGHTS_NAME, "sha256": sha256_bytes(blob)})
    text = json.dumps(spec.to_dict(), indent=2, sort_keys=False) + "\n"
    write_files([(out / WEIGHTS_NAME, blob), (out / SPEC_NAME, text.encode("utf-8"))])
    return out


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read once: the model (eval mode), its spec and where the weights came from."""

    model: Any
    spec: ModelSpec
    weights_path: Path
    weights_sha256: str


def load_checkpoint(path: str | os.PathLike[str], *, expect: ModelSpec | None = None):
    """(model in eval mode, spec) from a checkpoint; every inconsistency is an ArtifactError."""
    ckpt = read_checkpoint(path, expect=expect)
    return ckpt.model, ckpt.spec


def read_checkpoint(path: str | os.PathLike[str], *, expect: ModelSpec | None = None) -> Checkpoint:
    """:func:`load_checkpoint` plus the weights' path and sha256 (one read of each file)."""
    from vggdeploy.models.vgg import build_model
    from vggdeploy.spec import check_same_model

    spec_path, weights_path = resolve_checkpoint(path)
    spec = read_spec(spec_path)
    if expect is not None:
        check_same_model(expect, spec, a_name="the expected model", b_name=str(spec_path))
    try:
        blob = weights_path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read '{weights_path}': {exc.strerror or exc}") from exc
    digest = sha256_bytes(blob)
    recorded = (spec.provenance.get("weights") or {}).get("sha256")
    if recorded and recorded != digest:
        raise ArtifactError(
            f"'{weights_path}' does not match '{spec_path}' (sha256 differs): the weights were "
            "replaced or damaged after the checkpoint was written",
            hint="restore both files from the same run, or train again",
        )
    state = bytes_to_state_dict(blob, source=str(weights_path))
    model = build_model(spec)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{k} has shape {tuple(state[k].shape)}, spec needs {tuple(expected[k].shape)}"
            )
        raise ArtifactError(
            f"weights in '{weights_path}' do not fit the ModelSpec in '{spec_path}': "
            + "; ".join(parts),
            hint="the two files come from different runs; use a matching pair",
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return Checkpoint(model=model, spec=spec, weights_path=weights_path, weights_sha256=digest)
