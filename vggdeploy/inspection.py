"""``describe(path)``: what an artifact is, as a plain dict (the `vggdeploy inspect` command).

``.onnx`` is read here; ``.engine`` and ``.pt2`` are described by their backend modules
(``vggdeploy.backends.tensorrt.inspect_engine`` / ``vggdeploy.backends.inductor.inspect_package``),
imported only when such a file is inspected.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import ArtifactError, UsageError

# suffix -> (module, function) describing that artifact type
BACKEND_INSPECTORS = {
    ".engine": ("vggdeploy.backends.tensorrt", "inspect_engine"),
    ".pt2": ("vggdeploy.backends.inductor", "inspect_package"),
}

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

    from .onnxmeta import ONNX_METADATA_KEY, load_onnx, spec_from_model

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
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return describe_onnx(p)
    if suffix in BACKEND_INSPECTORS:
        module_name, func_name = BACKEND_INSPECTORS[suffix]
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("vggdeploy"):
                raise
            raise UsageError(
                f"cannot inspect '{p}': {suffix} files are not supported by this installation "
                f"({module_name} is missing)",
                hint="install the vggdeploy version that provides this backend",
            ) from exc
        except AttributeError as exc:
            raise UsageError(
                f"cannot inspect '{p}': {suffix} files are not supported ({module_name} has no "
                f"{func_name}())"
            ) from exc
        return dict(func(p))
    raise ArtifactError(
        f"'{p}' is not a vggdeploy artifact this command knows (suffix {suffix or 'none'!r})",
        hint=f"inspect .onnx, {', '.join(BACKEND_INSPECTORS)} files",
    )
