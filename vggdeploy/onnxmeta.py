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


def as_model_proto(source: Any, *, name: str = "the in-memory model") -> Any:
    """onnx.ModelProto for serialized ONNX ``bytes`` or a ModelProto (returned as is)."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return onnx.load_from_string(bytes(source))
        except Exception as exc:  # DecodeError and friends for garbage
            raise ArtifactError(f"{name} is not a readable ONNX model ({exc})") from exc
    raise ArtifactError(
        f"{name} is a {type(source).__name__}, expected a path, ONNX bytes or an onnx.ModelProto"
    )


def read_onnx_spec(source: Any) -> ModelSpec:
    """The ModelSpec embedded by `vggdeploy export`: ``source`` is a path (weights are not
    loaded), serialized ONNX bytes or an onnx.ModelProto."""
    if isinstance(source, (str, os.PathLike)):
        return spec_from_model(load_onnx(source, load_external_data=False), source=str(source))
    return spec_from_model(as_model_proto(source), source="<in-memory model>")


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
    "as_model_proto",
    "load_onnx",
    "read_onnx_spec",
    "set_spec_metadata",
    "spec_from_model",
]
