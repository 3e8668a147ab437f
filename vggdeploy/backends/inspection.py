"""``describe(path)``: what an artifact is, as a dict; ``render``: as text (`vggdeploy inspect`).

The backend registry says who describes a file (``BackendInfo.describe`` / ``render``): ``.onnx``
is read here (:func:`describe_onnx`), engines and .pt2 packages by their backend modules, imported
only when such a file is inspected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vggdeploy.backends.registry import BACKENDS, backend_for_path
from vggdeploy.errors import ArtifactError

_ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16"}


def _value_info(vi: Any) -> dict[str, Any]:
    t = vi.type.tensor_type
    shape = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
    return {
        "name": vi.name,
        "dtype": _ELEM_TYPES.get(t.elem_type, str(t.elem_type)),
        "shape": shape,
    }


def describe_onnx(path: str | os.PathLike[str]) -> dict[str, Any]:
    """ModelSpec, inputs/outputs, opset and op counts of an ONNX file."""
    import numpy as np

    from vggdeploy.artifacts.onnx_meta import ONNX_METADATA_KEY, load_onnx, spec_from_model

    p = Path(path)
    model = load_onnx(p, load_external_data=False)
    graph = model.graph
    if model.ir_version < 1 or not graph.node or not graph.output:
        # protobuf happily parses many non-ONNX byte strings into an empty message
        raise ArtifactError(
            f"'{p}' is not an ONNX model (no graph nodes / outputs after parsing)",
            hint="the file is corrupt, truncated or of another format; export it again",
        )
    inits = {i.name for i in graph.initializer}
    ops: dict[str, int] = {}
    for node in graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        ops[key] = ops.get(key, 0) + 1
    info: dict[str, Any] = {
        "file": str(p),
        "type": "onnx",
        "size_bytes": p.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_value_info(i) for i in graph.input if i.name not in inits],
        "outputs": [_value_info(o) for o in graph.output],
        "nodes": len(graph.node),
        "parameters": int(sum(int(np.prod(i.dims)) for i in graph.initializer)),
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    props = {m.key: m.value for m in model.metadata_props}
    if ONNX_METADATA_KEY in props:
        spec = spec_from_model(model, source=str(p))
        info["spec"] = {
            "preset": spec.preset,
            "input": f"{spec.input.name} {list(spec.input.shape('batch'))} {spec.input.dtype}",
            "output": f"{spec.output_name} [batch, {spec.num_classes}]",
            "conv_arch": [list(b) for b in spec.arch.conv_arch],
            "batch_norm": spec.arch.batch_norm,
            "classifier": list(spec.arch.classifier),
            "preprocess": json.dumps(spec.structural_dict()["preprocess"]),
            "class_names": ", ".join(spec.class_names),
            "fingerprint": spec.fingerprint()[:16],
        }
    else:
        info["spec"] = None
    info["metadata"] = {
        k: v for k, v in props.items() if k != ONNX_METADATA_KEY and not k.endswith(".versions")
    }
    if "vggdeploy.versions" in props:
        info["metadata"]["versions"] = json.loads(props["vggdeploy.versions"])
    return info


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe ``path`` by its type (suffix); ArtifactError for missing/unknown/corrupt files."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"file not found: '{p}'", hint="check the path")
    found = backend_for_path(p)
    info = found[0].describe_file(found[1]) if found is not None else None
    if info is None:
        known = [s for b in BACKENDS.values() if b.describe for s in b.suffixes]
        raise ArtifactError(
            f"'{p}' is not a vggdeploy artifact this command knows "
            f"(suffix {p.suffix.lower() or 'none'!r})",
            hint=f"inspect {', '.join(known)} files",
        )
    return info


def render(path: str | os.PathLike[str], info: dict[str, Any]) -> str:
    """The description as text: the backend's own layout where it has one, else key: value."""
    found = backend_for_path(path)
    lines = found[0].render_lines(info) if found is not None else None
    return "\n".join(lines) if lines is not None else _render(info)


def _render(info: dict[str, Any], indent: int = 0) -> str:
    pad = "  " * indent
    lines = []
    for key, value in info.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines.append(_render(value, indent + 1))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{key}:")
            for item in value:
                lines.append(f"{pad}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            lines.append(f"{pad}{key}: {value}")
    return "\n".join(lines)
