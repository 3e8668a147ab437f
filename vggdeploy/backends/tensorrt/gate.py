"""The build's precision gate: what each layer of a freshly built plan really runs in.

The plan is deserialized once, its engine inspector's detailed layer information (the build sets
``ProfilingVerbosity.DETAILED``) is read and judged by :mod:`.layer_precision`; a compute layer that
fell back from the requested precision refuses the build (exit 7) unless ``allow_fallback``. Called
by :func:`.build.build_engine` before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from vggdeploy.artifacts.onnx_meta import recorded_keep_fp32 as keep_fp32_of
from vggdeploy.backends.tensorrt import env
from vggdeploy.backends.tensorrt.layer_precision import (
    ONNX_COMPUTE_OPS,
    fallback_message,
    gate_record,
)
from vggdeploy.errors import VerificationError


def _engine_information(
    trt: ModuleType, logger: Any, plan: bytes, version_compatible: bool
) -> tuple[str | None, str | None]:
    """(the engine inspector's JSON for ``plan``, None) or (None, why it is unavailable)."""
    try:
        runtime = trt.Runtime(logger)
        if version_compatible:  # the plan embeds the lean runtime; it is the one just built
            runtime.engine_host_code_allowed = True
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            detail = "; ".join(logger.errors[-3:]) or "no detail from TensorRT"
            return None, f"TensorRT could not deserialize the new plan to inspect it ({detail})"
        inspector = engine.create_engine_inspector()
        text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
        del inspector, engine  # before the runtime
        return str(text), None
    except RuntimeError as exc:  # what the bindings raise for TensorRT's own failures
        return None, f"the engine inspector failed: {type(exc).__name__}: {exc}"


def precision_gate(
    trt: ModuleType,
    logger: Any,
    plan: bytes,
    onnx_file: Path,
    model: Any,
    precision: str,
    version_compatible: bool,
    allow_fallback: bool,
) -> dict[str, Any]:
    """The sidecar's ``layer_precision`` record; refuses (exit 7) a build whose compute layers
    fell back from ``precision`` unless ``allow_fallback``."""
    text, why = _engine_information(trt, logger, plan, version_compatible)
    record = gate_record(
        text,
        precision,
        keep_fp32=keep_fp32_of(model),
        compute_nodes=[n.name for n in model.graph.node if n.op_type in ONNX_COMPUTE_OPS],
        allow_fallback=allow_fallback,
        unavailable=why,
    )
    if record["status"] == "fallback":
        layers = fallback_message(record)
        if not allow_fallback:
            raise VerificationError(
                f"the {precision} engine built from '{onnx_file}' does not compute in "
                f"{precision}: TensorRT ran compute layer(s) {layers} in another precision. "
                "Nothing was written",
                hint="check the ONNX (`vggdeploy inspect` on it, `vggdeploy debug-precision "
                "RUN`); to keep such layers FP32 on purpose re-export with `vggdeploy export "
                f"RUN --precision {precision} --keep-fp32 LAYER`; or accept this engine with "
                "--allow-fallback (the sidecar records the fallback)",
            )
        env.log.warning("accepted (--allow-fallback): %s layers fell back: %s", precision, layers)
    elif record["status"] == "unknown":  # not refused: no layer is known to have fallen back
        env.log.warning(
            "could not check that the engine's layers run in %s: %s; recorded as unknown",
            precision,
            record["reason"],
        )
    return record
