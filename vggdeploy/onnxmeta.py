"""Read and write the ModelSpec stored in an ONNX model's ``metadata_props``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ArtifactError
from .spec import ONNX_METADATA_KEY, ModelSpec


def load_onnx(path: str | os.PathLike[str], *, load_external_data: bool = True) -> Any:
    """onnx.ModelProto from ``path`` with a clear error for a missing or non-ONNX file."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ArtifactError(
            f"ONNX model not found: '{p}'", hint="export it first with `vggdeploy export RUN`"
        )
    try:
        return onnx.load(str(p), load_external_data=load_external_data)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for garbage
        raise ArtifactError(
            f"'{p}' is not a readable ONNX model ({type(exc).__name__}: {exc})",
            hint="the file is corrupt, truncated or of another format; export it again",
        ) from exc


def spec_from_model(model: Any, *, source: str) -> ModelSpec:
    props = {p.key: p.value for p in model.metadata_props}
    return ModelSpec.from_onnx_metadata(props, source=source)


def read_onnx_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """The ModelSpec embedded by `vggdeploy export` (weights are not loaded)."""
    model = load_onnx(path, load_external_data=False)
    return spec_from_model(model, source=str(path))


def set_spec_metadata(model: Any, spec: ModelSpec, **extra: str) -> None:
    """Store ``spec`` and string ``extra`` items in ``model.metadata_props`` (replacing)."""
    items = {**spec.to_onnx_metadata(), **extra}
    keep = [p for p in model.metadata_props if p.key not in items]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for key, value in items.items():
        model.metadata_props.add(key=key, value=value)


__all__ = [
    "ONNX_METADATA_KEY",
    "load_onnx",
    "read_onnx_spec",
    "set_spec_metadata",
    "spec_from_model",
]
