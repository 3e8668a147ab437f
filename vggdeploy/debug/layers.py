"""Per-layer error of a precision variant against the FP32 model.

A *layer* is a node of the FP32 ONNX model, named by its node name (``node_Conv_58``); its value
is the node's output tensor. Variants keep the FP32 node and tensor names (ONNX Runtime's quantizer
and the FP16 converter both do) and add nodes around them:

* FP16: ``Cast`` at the graph edges (the last layer's output becomes ``graph_output_cast_0``,
  cast to ``logits``);
* INT8: ``QuantizeLinear``/``DequantizeLinear`` pairs (``<tensor>_QuantizeLinear_Output``,
  ``<tensor>_DequantizeLinear_Output``; a graph output is renamed
  ``<tensor>_QuantizeLinear_Input``), and for the CPU form activations fused into the layer before
  them (Conv+Relu: the Conv node then produces the Relu's tensor name, and the QuantizeLinear
  after it does the clamping, so its DequantizeLinear output is the counterpart).

:func:`match_layers` walks the variant's compute nodes (everything but Cast/Q/DQ), follows each
output through Cast/Q/DQ to the FP32 tensor it stands for, and pairs the two. :func:`layer_errors`
exposes both sets of tensors as graph outputs and accumulates :class:`vggdeploy.metrics.TensorError`
over real images.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vggdeploy.export.keep import SKIPPED_OPS
from vggdeploy.metrics import TensorError

PASS_THROUGH = ("Cast", "QuantizeLinear", "DequantizeLinear")
# ONNX Runtime's quantizer renames a graph output it quantizes to "<name>_QuantizeLinear_Input".
RENAMED_SUFFIXES = ("_QuantizeLinear_Input",)
_FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


@dataclass(frozen=True)
class LayerMatch:
    """One FP32 layer and its counterpart in the variant."""

    layer: str  # FP32 node name
    op_type: str  # "Conv", or "Conv+Relu" when the variant fused the following nodes in
    depth: int  # position in the FP32 graph's topological order
    fp32_tensor: str
    variant_tensor: str
    inputs: tuple[str, ...]  # the FP32 layers whose outputs feed this one
    fused: tuple[str, ...] = field(default=())  # FP32 nodes the variant merged into this layer


def _float_tensors(proto: Any) -> set[str]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    return {
        v.name
        for v in (*graph.value_info, *graph.output, *graph.input)
        if v.type.tensor_type.elem_type in _FLOAT_TYPES
    }


def match_layers(fp32: Any, variant: Any) -> tuple[list[LayerMatch], list[str]]:
    """(matches in FP32 depth order, FP32 layers without a counterpart) for two ModelProtos."""
    f_nodes = [n for n in fp32.graph.node if n.op_type not in SKIPPED_OPS]
    f_order = {n.name: i for i, n in enumerate(f_nodes)}
    f_by_name = {n.name: n for n in f_nodes}
    f_producer = {out: n for n in f_nodes for out in n.output if out}
    f_float = _float_tensors(fp32)
    v_consumers: dict[str, list[Any]] = {}
    for n in variant.graph.node:
        for i in n.input:
            v_consumers.setdefault(i, []).append(n)

    def counterpart(tensor: str, hops: int = 0) -> str | None:
        if tensor in f_producer:
            return tensor
        for suffix in RENAMED_SUFFIXES:
            if tensor.endswith(suffix) and tensor[: -len(suffix)] in f_producer:
                return tensor[: -len(suffix)]
        users = v_consumers.get(tensor, [])
        if hops < 4 and len(users) == 1 and users[0].op_type in PASS_THROUGH:
            return counterpart(users[0].output[0], hops + 1)
        return None

    matches: dict[str, LayerMatch] = {}
    for node in variant.graph.node:
        if node.op_type in PASS_THROUGH or node.op_type in SKIPPED_OPS or not node.output:
            continue
        tensor = node.output[0]
        target = counterpart(tensor)
        if target is None or target not in f_float:
            continue
        producer = f_producer[target]
        head = f_by_name.get(node.name, producer)
        if f_order.get(head.name, -1) > f_order[producer.name]:
            head = producer
        chain = _chain(head, producer, f_producer)
        if chain is None:  # the names disagree in a way we cannot explain: compare the tensor
            head, chain = producer, [producer]
        if len(chain) > 1:
            # A fused activation (Conv+Relu in the CPU form) is applied by the QuantizeLinear
            # after the node (U8, zero point 0 clamps at 0): compare what the DequantizeLinear
            # hands on, not the raw pre-activation output.
            tensor = _through_qdq(tensor, v_consumers)
        inputs = tuple(
            dict.fromkeys(
                f_producer[i].name for i in head.input if i in f_producer and i in f_float
            )
        )
        matches[target] = LayerMatch(
            layer=head.name,
            op_type="+".join(n.op_type for n in chain),
            depth=f_order[head.name],
            fp32_tensor=target,
            variant_tensor=tensor,
            inputs=inputs,
            fused=tuple(n.name for n in chain[1:]),
        )
    ordered = sorted(matches.values(), key=lambda m: m.depth)
    covered = {m.layer for m in ordered} | {f for m in ordered for f in m.fused}
    missing = [
        n.name for n in f_nodes if n.name not in covered and any(o in f_float for o in n.output)
    ]
    return ordered, missing


def _through_qdq(tensor: str, consumers: dict[str, list[Any]]) -> str:
    users = consumers.get(tensor, [])
    if len(users) == 1 and users[0].op_type == "QuantizeLinear":
        after = consumers.get(users[0].output[0], [])
        if len(after) == 1 and after[0].op_type == "DequantizeLinear":
            return after[0].output[0]
    return tensor


def _chain(head: Any, tail: Any, producer: dict[str, Any]) -> list[Any] | None:
    """FP32 nodes from ``head`` to ``tail`` along first inputs (``tail`` fused into ``head``)."""
    chain = [tail]
    while chain[-1].name != head.name:
        if len(chain) > 4 or not chain[-1].input or chain[-1].input[0] not in producer:
            return None
        chain.append(producer[chain[-1].input[0]])
    return chain[::-1]


def with_outputs(proto: Any, names: Iterable[str]) -> Any:
    """A copy of ``proto`` with ``names`` added as graph outputs (after the existing ones)."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    known = {o.name for o in probe.graph.output}
    for name in names:
        if name not in known:
            probe.graph.output.add(name=name)
            known.add(name)
    return probe


def _runner(proto: Any) -> Any:
    """An ONNX Runtime runner over an in-memory ModelProto (enter it to activate)."""
    from vggdeploy.backends.base import open_runner

    return open_runner("onnxruntime", proto)


def layer_errors(
    fp32: Any,
    variant: Any,
    x: np.ndarray,
    matches: list[LayerMatch],
    *,
    chunk: int = 64,
) -> list[dict[str, Any]]:
    """Per-layer error rows (FP32 depth order) of ``variant`` against ``fp32`` on images ``x``.

    Both models run with every matched tensor exposed, so ONNX Runtime cannot fuse across them:
    the variant's values are its reference (fake-quantized / FP16) semantics, which TensorRT
    follows; the final logits of the unmodified variant are measured separately."""
    f_names = [m.fp32_tensor for m in matches]
    v_names = [m.variant_tensor for m in matches]
    acc = [TensorError() for _ in matches]
    with (
        _runner(with_outputs(fp32, f_names)) as f_run,
        _runner(with_outputs(variant, v_names)) as v_run,
    ):
        for i in range(0, len(x), chunk):
            ref = f_run.all_outputs(x[i : i + chunk])
            out = v_run.all_outputs(x[i : i + chunk])
            for a, f, v in zip(acc, f_names, v_names, strict=True):
                a.update(ref[f], np.asarray(out[v], dtype=np.float32))
    rows = []
    for m, a in zip(matches, acc, strict=True):
        row = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(m).items()}
        rows.append({**row, **a.result()})
    return rows


def rank_growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds ``growth`` (relative L2 error of the layer minus the largest of its inputs': the
    error this layer adds) to each row; returns the rows sorted by it, largest first."""
    by_layer = {r["layer"]: r for r in rows}
    by_layer.update({f: r for r in rows for f in r["fused"]})
    for r in rows:
        feeding = [by_layer[i]["rel_l2"] for i in r["inputs"] if i in by_layer]
        r["growth"] = r["rel_l2"] - max(feeding, default=0.0)
    return sorted(rows, key=lambda r: -r["growth"])


def first_divergent(rows: list[dict[str, Any]], threshold_db: float) -> dict[str, Any] | None:
    """The first layer (depth order) whose SNR falls below ``threshold_db``."""
    return next((r for r in rows if r["snr_db"] < threshold_db), None)
