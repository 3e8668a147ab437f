"""The variant builders, one per kind (:func:`make_fp16`, :func:`make_int8`), used by the export
pipeline and by ``debug-precision --sensitivity`` alike, and the layers they keep in FP32
(``--keep-fp32 LAYER[,LAYER...]``).

A layer is named by its FP32 node name (``node_Conv_58``) or its output tensor (``getitem_9``),
as ``vggdeploy debug-precision`` prints them. INT8: ONNX Runtime's ``quantize_static`` leaves the
excluded nodes unquantized (``nodes_to_exclude``), reusing the cached calibration ranges. FP16:
``convert_float_to_float16``'s ``node_block_list`` keeps them FP32 with Casts around them. The
choice is recorded in the model's metadata as ``vggdeploy.keep_fp32`` (a JSON list), which
``vggdeploy inspect`` shows with the other metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vggdeploy.artifacts.onnx_meta import record_keep_fp32
from vggdeploy.errors import UsageError
from vggdeploy.export.quantize import INT8_TARGETS, TENSORRT_QUANTIZED_OPS

# Nodes that compute nothing and so are no layer (neither kept in FP32 nor compared per layer).
SKIPPED_OPS = ("Constant", "Shape", "Identity")
# The layers whose precision the sensitivity sweep varies (where the arithmetic happens).
COMPUTE_OPS = TENSORRT_QUANTIZED_OPS


def keepable_layers(fp32: Any, precision: str, target: str | None = None) -> list[str]:
    """FP32 node names ``--keep-fp32`` accepts for a variant: the quantized op types for the
    TensorRT INT8 form, every float-producing node otherwise."""
    nodes = [n for n in fp32.graph.node if n.op_type not in SKIPPED_OPS]
    if precision == "int8" and target == "tensorrt":
        nodes = [n for n in nodes if n.op_type in TENSORRT_QUANTIZED_OPS]
    return [n.name for n in nodes]


def compute_layers(fp32: Any) -> list[str]:
    return [n.name for n in fp32.graph.node if n.op_type in COMPUTE_OPS]


def resolve_layers(
    fp32: Any,
    names: str | Sequence[str],
    precision: str,
    target: str | None = None,
    *,
    option: str = "--keep-fp32",
) -> list[str]:
    """Node names for ``names`` (node or output tensor names, comma-separated strings allowed);
    UsageError naming the valid layers for anything else."""
    items = [names] if isinstance(names, str) else list(names)
    wanted = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    valid = keepable_layers(fp32, precision, target)
    if not wanted:
        raise UsageError(f"{option}: no layer named", hint=f"valid layers: {', '.join(valid)}")
    by_output = {o: n.name for n in fp32.graph.node if n.name in valid for o in n.output}
    out, bad = [], []
    for name in wanted:
        node = name if name in valid else by_output.get(name)
        (out if node else bad).append(node or name)
    if bad:
        what = (
            "INT8 (tensorrt) quantizes only " + "/".join(TENSORRT_QUANTIZED_OPS) + "; "
            if (precision == "int8" and target == "tensorrt")
            else ""
        )
        raise UsageError(
            f"{option}: unknown layer {', '.join(repr(b) for b in bad)}",
            hint=f"{what}valid layers: {', '.join(valid)}",
        )
    return list(dict.fromkeys(out))


def make_int8(
    fp32: bytes,
    ranges_path: Path,
    *,
    target: str,
    method: str,
    keep_fp32: Sequence[str] = (),
) -> Any:
    """INT8 ModelProto for ``target`` (from serialized FP32 ONNX ``fp32``) with the ``keep_fp32``
    layers left in FP32 (validated here) and recorded in its metadata."""
    import onnx

    from vggdeploy.export.quantize import quantize_int8

    if target not in INT8_TARGETS:
        raise UsageError(f"unknown --target {target!r}", hint=f"use one of {tuple(INT8_TARGETS)}")
    keep = []
    if keep_fp32:
        keep = resolve_layers(onnx.load_from_string(fp32), keep_fp32, "int8", target)
    proto = quantize_int8(fp32, ranges_path, target=target, method=method, keep_fp32=keep)
    record_keep_fp32(proto, keep)
    return proto


def make_fp16(fp32: Any, keep_fp32: Sequence[str] = ()) -> Any:
    """FP16 ModelProto (``fp16.convert_fp16``) with the ``keep_fp32`` layers in FP32 (validated
    here) and recorded in its metadata."""
    from vggdeploy.export.fp16 import convert_fp16

    keep = resolve_layers(fp32, keep_fp32, "fp16") if keep_fp32 else []
    proto = convert_fp16(fp32, keep_fp32=keep)
    record_keep_fp32(proto, keep)
    return proto
