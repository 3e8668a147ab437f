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
"""

from __future__ import annotations

import json
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
#: What a compute layer must run in for each requested engine precision.
EXPECTED = {"fp16": ("fp16",), "int8": ("int8",), "bf16": ("bf16",), "fp32": ("fp32",)}


def dtype_of(text: str | None) -> str | None:
    """Normalised data type of an inspector type string ("Row major linear FP16 format",
    "Half", "Int8", "Float", ...); None when it names none."""
    if not text:
        return None
    low = str(text).lower()
    return next((p for token, p in _DTYPE_TOKENS if token in low), None)


def _tensor_dtype(tensor: dict[str, Any]) -> str | None:
    if "DataType" in tensor:  # TensorRT 11.x
        return dtype_of(tensor["DataType"])
    return dtype_of(tensor.get("Format/Datatype"))  # TensorRT 10.x


def _is_compute(layer: dict[str, Any]) -> bool:
    if layer.get("ParameterType") in COMPUTE_PARAMETER_TYPES:
        return True
    kind = str(layer.get("LayerType", "")).lower()
    return any(t in kind for t in _COMPUTE_LAYER_TOKENS)


def layer_precisions(info: str | dict[str, Any]) -> dict[str, Any]:
    """Per-layer summary: ``{"format": "10.x"|"11.x"|"unknown", "detailed": bool, "layers":
    [{"name", "type", "compute", "inputs", "outputs", "precision"}]}``."""
    data = json.loads(info) if isinstance(info, str) else info
    if not isinstance(data, dict) or not isinstance(data.get("Layers"), list):
        raise ValueError("not engine inspector JSON: no 'Layers' list")
    layers = data["Layers"]
    detailed = all(isinstance(layer, dict) for layer in layers) and bool(layers)
    fmt = "11.x" if "I/O Tensors" in data else "10.x" if "Bindings" in data else "unknown"
    if fmt == "unknown" and detailed:
        tensors = [
            t for layer in layers for t in (*layer.get("Inputs", ()), *layer.get("Outputs", ()))
        ]
        if any("DataType" in t for t in tensors):
            fmt = "11.x"
        elif any("Format/Datatype" in t for t in tensors):
            fmt = "10.x"
    rows = []
    for layer in layers:
        if not isinstance(layer, dict):
            rows.append({"name": str(layer), "type": None, "compute": None, "inputs": [],
                         "outputs": [], "precision": None})  # fmt: skip
            continue
        inputs = [_tensor_dtype(t) for t in layer.get("Inputs", ())]
        outputs = [_tensor_dtype(t) for t in layer.get("Outputs", ())]
        compute = _is_compute(layer)
        precision = (
            (inputs[0] if inputs else None) if compute else next((d for d in outputs if d), None)
        )
        rows.append(
            {
                "name": layer.get("Name", ""),
                "type": layer.get("LayerType"),
                "compute": compute,
                "inputs": inputs,
                "outputs": outputs,
                "precision": precision,
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


def _deliberate(name: str, keep_fp32: set[str]) -> bool:
    """A fused TensorRT layer ("node_Conv_55 + node_relu") built from a node the ONNX keeps FP32."""
    return any(part.strip() in keep_fp32 for part in name.split(" + "))


def gate_record(
    info: str | dict[str, Any] | None,
    requested: str,
    *,
    keep_fp32: Any = (),
    allow_fallback: bool = False,
    unavailable: str | None = None,
) -> dict[str, Any]:
    """The sidecar's ``layer_precision`` section for an engine built in ``requested``.

    ``status`` is "ok" (every compute layer in ``requested``, or in FP32 where the ONNX keeps it
    so deliberately: ``keep_fp32``, its ``vggdeploy.keep_fp32`` metadata), "fallback" (some
    compute layer fell back: ``fallback`` lists them) or "unknown" (``reason`` says why;
    ``info`` None means the inspector gave nothing, ``unavailable`` says why)."""
    record: dict[str, Any] = {"requested": requested, "allow_fallback": bool(allow_fallback)}
    if info is None:
        return {**record, "status": "unknown", "reason": unavailable or "no inspector output"}
    try:
        summary = layer_precisions(info)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return {**record, "status": "unknown", "reason": f"unreadable inspector output: {exc}"}
    verdict = precision_verdict(summary, requested)
    keep = set(keep_fp32)
    fallback = [f for f in verdict["fallback"] if not _deliberate(f["name"], keep)]
    kept = [f["name"] for f in verdict["fallback"] if _deliberate(f["name"], keep)]
    if fallback:
        status = "fallback"
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
    if status == "unknown":
        record["reason"] = verdict.get(
            "reason", "the inspector gave no data type for some compute layers"
        )
    if len(summary["layers"]) <= MAX_LISTED_LAYERS:
        record["layers"] = [[r["name"], r["type"], r["precision"]] for r in summary["layers"]]
    return record


def fallback_message(record: dict[str, Any]) -> str:
    """The fallen-back layers of a gate record: 'node_Conv_56 (fp32), node_linear (fp32)'."""
    return ", ".join(f"{f['name']} ({f['precision']})" for f in record["fallback"])
