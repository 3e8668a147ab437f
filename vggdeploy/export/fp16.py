"""FP16 variant of the exported model: every float weight and op in FP16, the graph input and
output stay FP32 with a Cast at each edge (TensorRT 11 builds FP16 engines from such a model; it
has no FP16 builder flag). The stage that writes it is :mod:`vggdeploy.export.pipeline`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

FP16_MAX = 65504.0
# Ops kept in FP32 inside the FP16 model, in one place: exponentials and reductions overflow or
# lose too much in FP16 (none occurs in the VGG presets today; listed so a new head is safe).
FP32_OPS = (
    "Softmax",
    "LogSoftmax",
    "Exp",
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "ReduceL2",
    "ReduceLogSumExp",
    "LayerNormalization",
    "InstanceNormalization",
)


def convert_fp16(proto: Any, keep_fp32: Sequence[str] = ()) -> Any:
    """FP16 copy of an FP32 ModelProto with FP32 I/O (Cast at the edges) and FP32_OPS kept, and
    the nodes named in ``keep_fp32`` (validated names: ``vggdeploy.export.keep``)."""
    import onnx_ir as ir
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values truncated to FP16 range" is checked below
        half = convert_float_to_float16(
            proto,
            keep_io_types=True,
            op_block_list=sorted({*DEFAULT_OP_BLOCK_LIST, *FP32_OPS}),
            node_block_list=list(keep_fp32) or None,
        )
    # With node_block_list the converter declares FP16 value_info for initializers it leaves in
    # FP32 (those only the kept nodes read); the initializer's own type is the truth.
    inits = {i.name for i in half.graph.initializer}
    declared = [v for v in half.graph.value_info if v.name not in inits]
    del half.graph.value_info[:]
    half.graph.value_info.extend(declared)
    # The converter appends its edge Casts at the end of the node list; ONNX needs a
    # topological order.
    model = ir.from_proto(half)
    model.graph.sort()
    return ir.to_proto(model)


def fp16_range_check(proto: Any, x: np.ndarray, *, chunk: int = 64) -> dict[str, Any]:
    """Largest |value| of every intermediate float tensor on ``x`` (an FP32 model carrying its
    ModelSpec, run by the ONNX Runtime runner); tensors beyond the FP16 range would become inf in
    the FP16 model."""
    import onnx

    from vggdeploy.backends.base import open_runner

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name and name not in known:
                probe.graph.output.add(name=name)
                known.add(name)
    peak: dict[str, float] = {}
    with open_runner("onnxruntime", probe) as runner:
        for i in range(0, len(x), chunk):
            for name, value in runner.all_outputs(x[i : i + chunk]).items():
                peak.setdefault(name, 0.0)
                if np.issubdtype(np.asarray(value).dtype, np.floating) and np.size(value):
                    peak[name] = max(peak[name], float(np.abs(value).max()))
    over = {n: v for n, v in peak.items() if v > FP16_MAX}
    return {
        "samples": int(len(x)),
        "max_abs_activation": max(peak.values(), default=0.0),
        "tensors_beyond_fp16": over,
    }
