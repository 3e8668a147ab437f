"""The precision each layer of a built engine really runs in, from the engine inspector's JSON.

Pure: takes the string (or parsed dict) of
``engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)``
from an engine built with ``ProfilingVerbosity.DETAILED``, and never imports ``tensorrt``.

Formats (NVIDIA, "Engine Inspector" in the TensorRT developer guide, and "Migrating
IEngineInspector Usage from TensorRT 10.x to 11.x",
https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-IEngineInspector.html):

* both: ``{"Layers": [{"Name", "LayerType", "Inputs": [...], "Outputs": [...], "ParameterType",
  "TacticName", "Metadata", ...}, ...]}``; with ``LAYER_NAMES_ONLY`` verbosity ``Layers`` is a
  list of names only (no precision can be derived);
* TensorRT 10.x: the I/O names under ``"Bindings"`` (strings); each layer tensor has one combined
  ``"Format/Datatype"`` string (``"Row major linear FP32 format"``, ``"Channel major FP16 format
  where channel % 8 == 0"``, or just ``"Half"`` / ``"Int8"`` without an execution context);
* TensorRT 11.x: ``"Bindings"`` is replaced by ``"I/O Tensors"`` (objects with ``Name``,
  ``IOMode``, ``DataType``, ``Dimensions``, ...), and the combined field is split into
  ``"DataType"`` (``"Float"``, ``"Half"``, ``"Int8"``, ...) and ``"Format"``.

A compute layer's precision is the data type of its first (activation) input: an INT8
convolution reads Int8, an FP16 one Half; an FP32 one Float (it fell back).

What real output looks like (tests/backends/tensorrt/fixtures/, sources in its README): fused
layers are named ``"node_conv2d + node_relu"`` (horizontal fusions join with ``" || "``); Myelin
names its layers itself (``"node_linear_myl4_0"`` LayerType ``gemm``, ``"__myl_MulSum_myl4_1"``
LayerType ``kgen``), so the ONNX nodes a layer computes are read from ``"Metadata"``
(``"[ONNX Layer: node_linear]\x1f[ONNX Layer: node_relu_2]"``, 8.6+); reformat layers are
``Reformat`` or ``NoOp``; TensorRT 10.16 without an execution context writes the bare type
(``"Float"``, ``"Half"``), 8.x the long form (``"Row major linear FP32"``, ``"Thirty-two wide
channel vectorized row major Int8 format"``), and ``"N/A due to dynamic shapes"`` names none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# (token in the lower-cased type string, precision); first match wins, so "bfloat16" is tested
# before "float" and "uint8" before "int8".
_DTYPE_TOKENS = (
    ("bfloat16", "bf16"),
    ("bf16", "bf16"),
    ("fp8", "fp8"),
    ("fp4", "fp4"),
    ("uint8", "uint8"),
    ("int8", "int8"),
    ("int4", "int4"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("fp16", "fp16"),
    ("half", "fp16"),
    ("fp32", "fp32"),
    ("float", "fp32"),
    ("bool", "bool"),
)
COMPUTE_PARAMETER_TYPES = ("Convolution", "Deconvolution", "FullyConnected", "MatrixMultiply")
_COMPUTE_LAYER_TOKENS = ("convolution", "gemm", "matrixmultiply", "fullyconnected")
#: ONNX operators whose arithmetic the requested precision is about (what --keep-fp32 keeps).
ONNX_COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# "[ONNX Layer: a]\x1e[ONNX Layer: b]": \x1e joins fused CASK layers, \x1f Myelin's
_ONNX_LAYER = re.compile(r"\[ONNX Layer: (.+?)\](?=[\x1e\x1f]|\[ONNX Layer: |$)")
#: What a compute layer must run in for each requested engine precision.
EXPECTED = {"fp16": ("fp16",), "int8": ("int8",), "bf16": ("bf16",), "fp32": ("fp32",)}


def dtype_of(text: str | None) -> str | None:
    """Normalised data type of an inspector type string ("Row major linear FP16 format",
    "Half", "Int8", "Float", ...); None when it names none."""
    if not text:
        return None
    low = str(text).lower()
    return next((p for token, p in _DTYPE_TOKENS if token in low), None)


def onnx_nodes(layer: dict[str, Any]) -> list[str]:
    """The ONNX nodes a layer computes, from its ``Metadata`` ([] when it has none)."""
    return _ONNX_LAYER.findall(str(layer.get("Metadata") or ""))


def _tensors(layer: dict[str, Any], key: str) -> list[Any]:
    value = layer.get(key)
    return value if isinstance(value, list) else []


def _tensor_dtype(tensor: Any) -> str | None:
    if not isinstance(tensor, dict):  # malformed output names no type
        return None
    if "DataType" in tensor:  # TensorRT 11.x
        return dtype_of(tensor["DataType"])
    return dtype_of(tensor.get("Format/Datatype"))  # TensorRT 10.x


def _is_compute(layer: dict[str, Any]) -> bool:
    if str(layer.get("ParameterType")) in COMPUTE_PARAMETER_TYPES:
        return True
    kind = str(layer.get("LayerType", "")).lower()
    return any(t in kind for t in _COMPUTE_LAYER_TOKENS)


def layer_precisions(info: str | dict[str, Any]) -> dict[str, Any]:
    """Per-layer summary: ``{"format": "10.x"|"11.x"|"unknown", "detailed": bool, "layers":
    [{"name", "type", "compute", "inputs", "outputs", "precision", "onnx_nodes"}]}``."""
    data = json.loads(info) if isinstance(info, str) else info
    if not isinstance(data, dict) or not isinstance(data.get("Layers"), list):
        raise ValueError("not engine inspector JSON: no 'Layers' list")
    layers = data["Layers"]
    detailed = all(isinstance(layer, dict) for layer in layers) and bool(layers)
    fmt = "11.x" if "I/O Tensors" in data else "10.x" if "Bindings" in data else "unknown"
    if fmt == "unknown" and detailed:
        tensors = [
            t
            for layer in layers
            for t in (*_tensors(layer, "Inputs"), *_tensors(layer, "Outputs"))
            if isinstance(t, dict)
        ]
        if any("DataType" in t for t in tensors):
            fmt = "11.x"
        elif any("Format/Datatype" in t for t in tensors):
            fmt = "10.x"
    rows = []
    for layer in layers:
        if not isinstance(layer, dict):
            rows.append({"name": str(layer), "type": None, "compute": None, "inputs": [],
                         "outputs": [], "precision": None, "onnx_nodes": []})  # fmt: skip
            continue
        inputs = [_tensor_dtype(t) for t in _tensors(layer, "Inputs")]
        outputs = [_tensor_dtype(t) for t in _tensors(layer, "Outputs")]
        compute = _is_compute(layer)
        precision = (
            (inputs[0] if inputs else None) if compute else next((d for d in outputs if d), None)
        )
        rows.append(
            {
                "name": str(layer.get("Name", "")),
                "type": None if layer.get("LayerType") is None else str(layer["LayerType"]),
                "compute": compute,
                "inputs": inputs,
                "outputs": outputs,
                "precision": precision,
                "onnx_nodes": onnx_nodes(layer),
            }
        )
    return {"format": fmt, "detailed": detailed, "layers": rows}


def precision_verdict(summary: dict[str, Any], requested: str) -> dict[str, Any]:
    """Did the compute layers build in ``requested`` (fp32/fp16/bf16/int8)?

    ``ok`` is True when every compute layer runs in it, False when some fell back (listed in
    ``fallback``), None when the information cannot tell (not DETAILED, or no compute layer)."""
    if requested not in EXPECTED:
        raise ValueError(f"unknown precision {requested!r}; use one of {tuple(EXPECTED)}")
    compute = [r for r in summary["layers"] if r["compute"]]
    counts: dict[str, int] = {}
    for r in compute:
        counts[str(r["precision"])] = counts.get(str(r["precision"]), 0) + 1
    verdict: dict[str, Any] = {
        "requested": requested,
        "compute_layers": len(compute),
        "precisions": counts,
        "fallback": [
            {"name": r["name"], "precision": r["precision"]}
            for r in compute
            if r["precision"] is not None and r["precision"] not in EXPECTED[requested]
        ],
        "unknown": [r["name"] for r in compute if r["precision"] is None],
    }
    if verdict["fallback"]:
        verdict["ok"] = False
    elif not summary["detailed"]:
        verdict["ok"] = None
        verdict["reason"] = "the engine was not built with ProfilingVerbosity.DETAILED"
    elif not compute:
        verdict["ok"] = None
        verdict["reason"] = "no convolution / matrix-multiply layer found in the engine"
    elif verdict["unknown"]:
        verdict["ok"] = None
        verdict["reason"] = "the inspector gave no data type for some compute layers"
    else:
        verdict["ok"] = True
    return verdict


#: at most this many layers are listed one by one in the sidecar (VGG engines have ~20-40)
MAX_LISTED_LAYERS = 200


def _parts(row: dict[str, Any]) -> list[str]:
    """The ONNX nodes of a summary row: its Metadata, else the parts of a fused name."""
    if row["onnx_nodes"]:
        return row["onnx_nodes"]
    return [p.strip() for half in str(row["name"]).split(" || ") for p in half.split(" + ")]


def _deliberate(row: dict[str, Any], keep: set[str], compute_nodes: set[str]) -> bool:
    """A layer built from nodes the ONNX keeps FP32: every ONNX compute node it names is kept
    (when it names none we know of: any of its parts is)."""
    parts = _parts(row)
    named = [p for p in parts if p in compute_nodes]
    return all(p in keep for p in named) if named else any(p in keep for p in parts)


def _unchecked(
    summary: dict[str, Any], requested: str, keep: set[str], compute_nodes: set[str]
) -> list[dict[str, Any]]:
    """Layers the inspector does not type as compute (Myelin ``kgen``, ...) that carry the only
    trace of some ONNX compute node and read (first input) another precision than ``requested``:
    whether they are that node's arithmetic or an epilogue next to it, the inspector does not
    say."""
    rows = summary["layers"]
    covered = {p for r in rows if r["compute"] for p in _parts(r)}
    out = []
    for r in rows:
        nodes = [n for n in r["onnx_nodes"] if n in compute_nodes and n not in covered]
        if r["compute"] or not nodes or all(n in keep for n in nodes):
            continue
        first = r["inputs"][0] if r["inputs"] else None  # the activation, as for compute layers
        if first is not None and first not in EXPECTED[requested]:
            out.append({"name": r["name"], "onnx_nodes": nodes, "inputs": r["inputs"]})
    return out


def gate_record(
    info: str | dict[str, Any] | None,
    requested: str,
    *,
    keep_fp32: Iterable[str] = (),
    compute_nodes: Iterable[str] = (),
    allow_fallback: bool = False,
    unavailable: str | None = None,
) -> dict[str, Any]:
    """The sidecar's ``layer_precision`` section for an engine built in ``requested``.

    ``status`` is "ok" (every compute layer in ``requested``, or in FP32 where the ONNX keeps it
    so deliberately: ``keep_fp32``, its ``vggdeploy.keep_fp32`` metadata), "fallback" (some
    compute layer fell back: ``fallback`` lists them) or "unknown" (``reason`` says why;
    ``info`` None means the inspector gave nothing, ``unavailable`` says why). ``compute_nodes``
    names the ONNX model's compute nodes (:data:`ONNX_COMPUTE_OPS`): a layer whose Metadata is
    the only trace of one and that reads another precision is listed in ``unchecked`` and makes
    the status "unknown" rather than "ok"."""
    record: dict[str, Any] = {"requested": requested, "allow_fallback": bool(allow_fallback)}
    if info is None:
        return {**record, "status": "unknown", "reason": unavailable or "no inspector output"}
    try:
        summary = layer_precisions(info)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return {**record, "status": "unknown", "reason": f"unreadable inspector output: {exc}"}
    verdict = precision_verdict(summary, requested)
    keep, nodes = set(keep_fp32), set(compute_nodes)
    fell = [r for r in summary["layers"] if r["compute"] and r["precision"] is not None]
    fell = [r for r in fell if r["precision"] not in EXPECTED[requested]]
    fallback = [
        {"name": r["name"], "precision": r["precision"]}
        for r in fell
        if not _deliberate(r, keep, nodes)
    ]
    kept = [r["name"] for r in fell if _deliberate(r, keep, nodes)]
    unchecked = _unchecked(summary, requested, keep, nodes)
    if fallback:
        status = "fallback"
    elif unchecked:
        status = "unknown"
    elif verdict["ok"] is True or (verdict["ok"] is False and not verdict["unknown"]):
        status = "ok"  # False here: every fallen-back layer is one the ONNX keeps in FP32
    else:
        status = "unknown"
    record |= {
        "status": status,
        "inspector_format": summary["format"],
        "compute_layers": verdict["compute_layers"],
        "precisions": verdict["precisions"],
        "fallback": fallback,
        "kept_fp32": kept,
    }
    if unchecked:
        record["unchecked"] = unchecked
    if status == "unknown":
        if unchecked and not fallback:
            where = ", ".join(
                f"{'/'.join(u['onnx_nodes'])} in {u['name']} (reads "
                f"{'/'.join(str(d) for d in u['inputs'])})"
                for u in unchecked
            )
            record["reason"] = (
                f"compute node(s) ran only in layers the inspector does not type as convolution "
                f"or matrix multiply, not in {requested}: {where}"
            )
        else:
            record["reason"] = verdict.get(
                "reason", "the inspector gave no data type for some compute layers"
            )
    if len(summary["layers"]) <= MAX_LISTED_LAYERS:
        record["layers"] = [[r["name"], r["type"], r["precision"]] for r in summary["layers"]]
    return record


def fallback_message(record: dict[str, Any]) -> str:
    """The fallen-back layers of a gate record: 'node_Conv_56 (fp32), node_linear (fp32)'."""
    return ", ".join(f"{f['name']} ({f['precision']})" for f in record["fallback"])
