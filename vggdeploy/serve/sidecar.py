"""What serving needs from a TensorRT engine's sidecar (``NAME.engine.json``), without TensorRT.

The sidecar is written and checked by the TensorRT backend (``backends/tensorrt/sidecar.py``);
this module only maps it to the facts a Triton repository needs: the ModelSpec, the batch range of
the optimization profile, the I/O dtypes and the plan's sha256 (verified, so a replaced or
truncated plan is caught before it is copied into a repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends.tensorrt.sidecar import check_engine
from ..errors import ArtifactError
from ..spec import ModelSpec

# sidecar dtype name -> Triton data type
_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16"}


@dataclass(frozen=True)
class EngineFacts:
    spec: ModelSpec
    min_batch: int
    max_batch: int
    sha256: str
    tensorrt_version: str
    input_dtype: str = "TYPE_FP32"
    output_dtype: str = "TYPE_FP32"


def read_engine_sidecar(engine: str | Path) -> EngineFacts:
    """Facts about ``engine`` from its verified sidecar; ArtifactError when missing/mismatched."""
    sidecar, _ = check_engine(engine, trt_version=None, device=None)
    spec = sidecar.model_spec()
    dtypes = {t["name"]: str(t.get("dtype", "float32")) for t in sidecar.data["io"]}

    def triton_dtype(tensor: str) -> str:
        name = dtypes.get(tensor, "float32")
        if name not in _DTYPES:
            raise ArtifactError(
                f"tensor '{tensor}' of '{engine}' has dtype {name!r}, which Triton's "
                "tensorrt_plan config here does not map",
                hint="build the engine from a model with float32/float16 I/O",
            )
        return _DTYPES[name]

    lo, hi = sidecar.batch_bounds
    return EngineFacts(
        spec=spec,
        min_batch=lo,
        max_batch=hi,
        sha256=sidecar.engine_sha256,
        tensorrt_version=sidecar.trt_version,
        input_dtype=triton_dtype(spec.input.name),
        output_dtype=triton_dtype(spec.output_name),
    )


__all__ = ["EngineFacts", "read_engine_sidecar"]
