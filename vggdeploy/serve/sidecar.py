"""What serving needs from a TensorRT engine's sidecar (``NAME.engine.json``), without TensorRT.

The sidecar is written by ``vggdeploy build-engine`` (vggdeploy/backends/tensorrt.py). Serving
needs only a few of its facts: the ModelSpec, the batch range of the optimization profile, the I/O
dtypes and the plan's sha256 (checked here, so a replaced or truncated plan is caught before it is
copied into a Triton repository). The lookup is by meaning rather than by one fixed layout: the
ModelSpec is the object whose ``format`` is ``vggdeploy.modelspec``; the profile is the object
with ``min``/``max`` shapes of the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import sha256_file
from ..errors import ArtifactError
from ..spec import SPEC_FORMAT, ModelSpec

_SHA_KEYS = ("engine.sha256", "plan.sha256", "engine_sha256", "plan_sha256", "sha256")
_TRT_VERSION_KEYS = ("tensorrt.version", "tensorrt_version", "trt_version", "tensorrt")
_DTYPES = {
    "float32": "TYPE_FP32",
    "float": "TYPE_FP32",
    "fp32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "half": "TYPE_FP16",
    "fp16": "TYPE_FP16",
    "bfloat16": "TYPE_BF16",
    "bf16": "TYPE_BF16",
}


@dataclass(frozen=True)
class EngineFacts:
    spec: ModelSpec
    min_batch: int
    max_batch: int
    sha256: str
    tensorrt_version: str | None
    input_dtype: str = "TYPE_FP32"
    output_dtype: str = "TYPE_FP32"


def sidecar_path(engine: str | Path) -> Path:
    return Path(str(engine) + ".json")


def read_engine_sidecar(engine: str | Path) -> EngineFacts:
    """Facts about ``engine`` from its sidecar; ArtifactError when missing or not matching."""
    engine = Path(engine)
    side = sidecar_path(engine)
    rebuild = "rebuild it with `vggdeploy build-engine MODEL.onnx -o NAME.engine`"
    if not engine.is_file():
        raise ArtifactError(f"engine not found: '{engine}'", hint=rebuild)
    if not side.is_file():
        raise ArtifactError(
            f"engine sidecar not found: '{side}' (it carries the ModelSpec and the profile)",
            hint=rebuild,
        )
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read sidecar '{side}' ({exc})", hint=rebuild) from exc
    spec_dict = next(
        (d for d in _objects(data) if d.get("format") == SPEC_FORMAT and "arch" in d), None
    )
    if spec_dict is None:
        raise ArtifactError(f"sidecar '{side}' holds no ModelSpec", hint=rebuild)
    spec = ModelSpec.from_dict(spec_dict, source=f"{side} (ModelSpec)")
    recorded = _first_string(data, _SHA_KEYS)
    if recorded is None:
        raise ArtifactError(f"sidecar '{side}' records no sha256 of the plan", hint=rebuild)
    actual = sha256_file(engine)
    if actual != recorded:
        raise ArtifactError(
            f"'{engine}' does not match its sidecar '{side}' (sha256 {actual[:12]}... vs "
            f"recorded {recorded[:12]}...): the plan was replaced, rebuilt or truncated",
            hint=rebuild,
        )
    lo, hi = _batch_range(data, spec.input.name, side)
    return EngineFacts(
        spec=spec,
        min_batch=lo,
        max_batch=hi,
        sha256=actual,
        tensorrt_version=_first_string(data, _TRT_VERSION_KEYS),
        input_dtype=_tensor_dtype(data, spec.input.name),
        output_dtype=_tensor_dtype(data, spec.output_name),
    )


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the tree, depth first."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _objects(v)
    elif isinstance(node, list):
        for v in node:
            yield from _objects(v)


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _first_string(data: Any, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        v = _get(data, key)
        if isinstance(v, str):
            return v
    return None


def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(isinstance(d, int) for d in v)


def _batch_range(data: Any, input_name: str, side: Path) -> tuple[int, int]:
    """(min, max) batch of the optimization profile: an object with min/max NCHW shapes."""
    candidates = [d for d in _objects(data) if _is_shape(d.get("min")) and _is_shape(d.get("max"))]
    named = [d for d in candidates if d.get("name") in (None, input_name)]
    if named or candidates:
        prof = (named or candidates)[0]
        return int(prof["min"][0]), int(prof["max"][0])
    for obj in _objects(data):  # a flat form: {"min_batch": 1, "max_batch": 64}
        if isinstance(obj.get("max_batch"), int):
            return int(obj.get("min_batch", 1)), int(obj["max_batch"])
    raise ArtifactError(
        f"sidecar '{side}' records no optimization profile (min/max input shapes)",
        hint="rebuild the engine with `vggdeploy build-engine`",
    )


def _tensor_dtype(data: Any, tensor: str) -> str:
    for obj in _objects(data):
        if obj.get("name") == tensor and isinstance(obj.get("dtype"), str):
            key = obj["dtype"].lower().rsplit(".", 1)[-1]  # "DataType.HALF" -> "half"
            if key not in _DTYPES:
                raise ArtifactError(f"tensor '{tensor}' has dtype {obj['dtype']!r} in the sidecar")
            return _DTYPES[key]
    return "TYPE_FP32"


__all__ = ["EngineFacts", "read_engine_sidecar", "sidecar_path"]
