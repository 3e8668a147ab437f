"""What an ONNX model records in its ``metadata_props``: every key vggdeploy writes (this module
is their one home), and reading/writing the ModelSpec and the layers kept in FP32."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vggdeploy.errors import ArtifactError
from vggdeploy.spec import ModelSpec

# ---- the keys ------------------------------------------------------------------------------------
ONNX_METADATA_KEY = "vggdeploy.modelspec"  # the ModelSpec (JSON); also the key inside a .pt2
META_CHECKPOINT = "vggdeploy.checkpoint_sha256"  # sha256 of the weights it was exported from
META_VERSIONS = "vggdeploy.versions"  # tool versions (JSON)
META_MAX_BATCH = "vggdeploy.max_batch"  # the largest batch the export verified
META_PRECISION = "vggdeploy.precision"  # the variant's tag (fp32, fp16, int8, int8-cpu)
META_EXPORTER = "vggdeploy.exporter"  # which torch exporter made the graph
META_SOURCE_ONNX = "vggdeploy.source_onnx_sha256"  # a variant: sha256 of its model.onnx
META_KEEP_FP32 = "vggdeploy.keep_fp32"  # layers a variant keeps in FP32 on purpose (JSON list)

# The largest batch the export verifies unless told otherwise. What an ONNX file was verified at
# is the one fact it records (META_MAX_BATCH); TensorRT's default profile and Triton's
# max_batch_size follow the recorded value (verified_max_batch), so by default nothing accepts a
# batch the ONNX was never verified at.
DEFAULT_VERIFIED_MAX_BATCH = 64


def metadata(model: Any) -> dict[str, str]:
    """``model.metadata_props`` as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def verified_max_batch(model: Any) -> int:
    """The largest batch ``model`` (a ModelProto) was verified at, as it records it; the export
    default for a model that records none."""
    value = metadata(model).get(META_MAX_BATCH, "")
    return int(value) if value.isdecimal() and int(value) >= 1 else DEFAULT_VERIFIED_MAX_BATCH


def spec_metadata(spec: ModelSpec) -> dict[str, str]:
    """The metadata item that carries ``spec``."""
    return {ONNX_METADATA_KEY: json.dumps(spec.to_dict(), sort_keys=True)}


def spec_from_props(props: dict[str, str], *, source: str = "ONNX model") -> ModelSpec:
    """The ModelSpec recorded in ``props`` (refused when there is none)."""
    if ONNX_METADATA_KEY not in props:
        raise ArtifactError(
            f"{source}: has no '{ONNX_METADATA_KEY}' metadata (it was not exported by vggdeploy)",
            hint="export it with `vggdeploy export RUN`",
        )
    return ModelSpec.from_json(props[ONNX_METADATA_KEY], source=f"{source} metadata")


def record_keep_fp32(proto: Any, keep: Sequence[str]) -> None:
    """Store ``keep`` in ``proto``'s metadata (replacing an earlier value; nothing when empty)."""
    rest = [p for p in proto.metadata_props if p.key != META_KEEP_FP32]
    del proto.metadata_props[:]
    proto.metadata_props.extend(rest)
    if keep:
        proto.metadata_props.add(key=META_KEEP_FP32, value=json.dumps(list(keep)))


def recorded_keep_fp32(proto: Any) -> list[str]:
    """The layers ``proto`` records as kept in FP32 (empty when none)."""
    props = metadata(proto)
    return json.loads(props[META_KEEP_FP32]) if META_KEEP_FP32 in props else []


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
    return spec_from_props(metadata(model), source=source)


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
    items = {**spec_metadata(spec), **extra}
    keep = [p for p in model.metadata_props if p.key not in items]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for key, value in items.items():
        model.metadata_props.add(key=key, value=value)
