"""Which ONNX file a TensorRT build of a given precision reads, and whether it really has it.

The export stage writes ``model.onnx`` (fp32), ``model.fp16.onnx`` (FP16 casts) and
``model.int8.onnx`` (explicit Q/DQ for TensorRT) side by side; ``model.int8-cpu.onnx`` is ONNX
Runtime's CPU flavour and not meant for TensorRT. With strongly typed networks the ONNX *is* the
precision, so a file that lacks what its name promises would silently build an FP32 engine labelled
FP16/INT8: :func:`check_precision_content` refuses that.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from vggdeploy.artifacts.variants import split_variant, variant_path
from vggdeploy.errors import ArtifactError, UsageError


def onnx_variant(path: Path) -> tuple[str, str]:
    """(variant, stem) of an ONNX file name: model.fp16.onnx -> ("fp16", "model")."""
    found = split_variant(path)
    if found is None:
        raise UsageError(
            f"'{path}' is not an .onnx file",
            hint="pass RUN/model.onnx (or use --backend inductor with a run folder)",
        )
    return found


def resolve_onnx(given: Path, precision: str | None) -> tuple[Path, str]:
    """(ONNX file to build, precision) for ``given`` and the requested ``precision``."""
    if given.is_dir():
        given = given / "model.onnx"
    variant, stem = onnx_variant(given)
    base = given.with_name(f"{stem}.onnx")  # the FP32 model its variants sit beside
    if variant == "int8-cpu":
        raise UsageError(
            f"'{given}' is ONNX Runtime's CPU INT8 model; TensorRT builds from the Q/DQ model",
            hint=f"pass {variant_path(base, 'int8')} (or model.onnx with --int8)",
        )
    if precision is None:
        precision = variant
    if precision == variant:
        chosen = given
    elif variant == "fp32":
        chosen = variant_path(base, precision)
    else:
        raise UsageError(
            f"--{precision} was asked for, but '{given.name}' is the {variant} model",
            hint=f"pass {base} or {variant_path(base, precision)}",
        )
    if not chosen.is_file():
        run = chosen.parent
        if precision == "fp32":
            raise ArtifactError(
                f"ONNX model not found: '{chosen}'",
                hint=f"export it: vggdeploy export {_q(run)}",
            )
        raise ArtifactError(
            f"the {precision.upper()} ONNX model '{chosen}' does not exist (a {precision} engine "
            f"is built from it; TensorRT 11 has no builder flag that lowers precision for you)",
            hint=f"create it with: vggdeploy export {_q(run)} --precision {precision}",
        )
    return chosen, precision


def check_precision_content(model: Any, path: Path, precision: str) -> None:
    """ArtifactError unless an fp16 model has FP16 tensors / an int8 model has Q/DQ nodes."""
    import onnx

    graph = model.graph
    if precision == "int8":
        ops = {n.op_type for n in graph.node}
        if not ops & {"QuantizeLinear", "DequantizeLinear"}:
            raise ArtifactError(
                f"'{path}' has no QuantizeLinear/DequantizeLinear nodes, so TensorRT would build "
                "an FP32 engine from it",
                hint=f"re-create it: vggdeploy export {_q(path.parent)} --precision int8",
            )
    elif precision == "fp16":
        half = onnx.TensorProto.FLOAT16
        has_half = any(t.data_type == half for t in graph.initializer) or any(
            n.op_type == "Cast" and any(a.name == "to" and a.i == half for a in n.attribute)
            for n in graph.node
        )
        has_half = has_half or any(
            v.type.tensor_type.elem_type == half
            for v in [*graph.input, *graph.output, *graph.value_info]
        )
        if not has_half:
            raise ArtifactError(
                f"'{path}' contains no FLOAT16 tensors, so TensorRT would build an FP32 engine "
                "from it",
                hint=f"re-create it: vggdeploy export {_q(path.parent)} --precision fp16",
            )


def _q(path: Path) -> str:
    """A path as one shell word (suggested commands are pasted into shells)."""
    return shlex.quote(str(path))
