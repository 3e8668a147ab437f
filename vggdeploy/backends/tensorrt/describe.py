"""What a TensorRT engine file is, for the rest of vggdeploy: the one reader of its sidecar's facts.

``inspect_engine`` / ``engine_lines`` serve `vggdeploy inspect`, ``engine_precision`` bench's
table, ``engine_io`` the Triton repository writer, ``build_summary`` `vggdeploy build-engine`.
Nothing outside this package reads sidecar fields; they call these. Imports neither tensorrt
nor torch at module level.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import Any

from vggdeploy.backends.tensorrt.layer_precision import fallback_message
from vggdeploy.backends.tensorrt.runner import load_engine
from vggdeploy.backends.tensorrt.sidecar import check_engine, read_sidecar
from vggdeploy.errors import ArtifactError, BackendUnavailableError, MissingDependencyError
from vggdeploy.spec import ModelSpec


@dataclass(frozen=True)
class EngineIO:
    """What serving an engine needs to know: verified against the plan's sha256."""

    spec: ModelSpec
    min_batch: int
    max_batch: int
    sha256: str
    tensorrt_version: str
    dtypes: dict[str, str]  # tensor name -> dtype name as in the sidecar (float32, float16, ...)


def engine_io(engine: str | os.PathLike[str]) -> EngineIO:
    """Facts about ``engine`` from its verified sidecar; ArtifactError when missing/mismatched."""
    sidecar, _ = check_engine(engine, trt_version=None, device=None)
    lo, hi = sidecar.batch_bounds
    return EngineIO(
        spec=sidecar.model_spec(),
        min_batch=lo,
        max_batch=hi,
        sha256=sidecar.engine_sha256,
        tensorrt_version=sidecar.trt_version,
        dtypes={t["name"]: str(t.get("dtype", "float32")) for t in sidecar.data["io"]},
    )


def engine_precision(engine: str | os.PathLike[str]) -> str | None:
    """The precision the engine's sidecar records, or None when it has no readable sidecar
    (the runner reports that, with the file named, when the engine is opened)."""
    try:
        return read_sidecar(engine).precision
    except ArtifactError:
        return None


def engine_provenance(engine: str | os.PathLike[str], run: Any) -> Any:
    """What the engine records about its origin (registry ``provenance`` hook): its source ONNX
    (file name, sha256) and the weights' sha256 named by that ONNX's ModelSpec."""
    from vggdeploy.artifacts.provenance import Recorded, weights_sha256_of

    sidecar = read_sidecar(engine)
    source = sidecar.data["source_onnx"]
    return Recorded(
        checkpoint_sha256=weights_sha256_of(sidecar.model_spec()),
        source=(str(source["file"]), str(source["sha256"])),
        action=f"re-export if needed (vggdeploy export {shlex.quote(str(run))}), then rebuild "
        f"the engine: {sidecar.rebuild_command}",
    )


def inspect_engine(engine_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar, the integrity check's verdict and, where TensorRT and a GPU are present,
    TensorRT's engine-inspector layer information (JSON)."""
    sidecar = read_sidecar(engine_path)
    info: dict[str, Any] = {"engine": str(engine_path), "sidecar": sidecar.data}
    try:
        check_engine(engine_path, trt_version=None, device=None)
        info["integrity"] = "ok: size and sha256 match the sidecar"
    except ArtifactError as exc:
        info["integrity"] = f"FAILED: {exc.message}"
        info["layers"] = None
        return info
    try:
        loaded = load_engine(engine_path)
    except (MissingDependencyError, BackendUnavailableError, ArtifactError) as exc:
        info["layers"] = None
        info["layers_unavailable"] = exc.message
        return info
    import tensorrt as trt  # present: load_engine succeeded

    inspector = loaded.engine.create_engine_inspector()
    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    try:
        info["layers"] = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        info["layers"] = text
    return info


def engine_lines(info: dict[str, Any]) -> list[str] | None:
    """`vggdeploy inspect` text for :func:`inspect_engine`'s description."""
    if "sidecar" not in info:
        return None
    s = info["sidecar"]
    prof, built_by, build = s["profile"], s["tensorrt"], s["build"]
    lines = [
        f"TensorRT engine   {info['engine']}  ({s['engine']['size'] / 1e6:.2f} MB)",
        f"integrity         {info['integrity']}",
        f"precision         {s['precision']}",
        f"model             {s['model_spec']['preset']} "
        f"(input {s['model_spec']['input']['name']} "
        f"{s['model_spec']['input']['channels']}x{s['model_spec']['input']['height']}x"
        f"{s['model_spec']['input']['width']}, {s['model_spec']['num_classes']} classes)",
        f"batch profile     min {prof['min'][0]}, opt {prof['opt'][0]}, max {prof['max'][0]}",
        f"built with        TensorRT {built_by['version']} on {s['device']['name']} "
        f"(compute capability {'.'.join(map(str, s['device']['compute_capability']))})",
        f"compatibility     version-compatible: "
        f"{'yes' if built_by.get('version_compatible') else 'no'}, "
        f"hardware: {built_by.get('hardware_compat', 'none')}",
        f"built             {build.get('created', '?')} in {build.get('seconds', '?')} s",
        f"rebuild           {build.get('command', '?')}",
    ]
    for t in s["io"]:
        lines.append(f"{t['mode']:<17} {t['name']}: {t['dtype']} {t['shape']}")
    lines += layer_precision_lines(s.get("layer_precision"))
    layers = info.get("layers")
    if layers is None:
        lines.append(
            f"layers            unavailable: {info.get('layers_unavailable', 'see above')}"
        )
    else:
        items = layers.get("Layers", []) if isinstance(layers, dict) else []
        lines.append(f"layers            {len(items)} (TensorRT engine inspector)")
        for layer in items:
            if isinstance(layer, dict):
                name = layer.get("Name", "?")
                kind = layer.get("LayerType", "")
                tactic = layer.get("TacticName", "")
                lines.append(f"  {name}  {kind}  {tactic}".rstrip())
            else:
                lines.append(f"  {layer}")
    return lines


def layer_precision_lines(record: dict[str, Any] | None) -> list[str]:
    """The sidecar's per-layer precision verdict in words (version-1 sidecars have none)."""
    if record is None:
        return ["layer precision   not recorded (sidecar from an older vggdeploy)"]
    status, want = record["status"], record["requested"]
    counts = ", ".join(f"{n} {p}" for p, n in sorted(record.get("precisions", {}).items()))
    total = f" ({record['compute_layers']} compute layers: {counts})" if counts else ""
    if status == "ok":
        head = f"ok: compute layers run in {want}{total}"
    elif status == "fallback":
        head = f"FALLBACK accepted with --allow-fallback{total}; not {want}: " + fallback_message(
            record
        )
    else:
        head = f"unknown: {record.get('reason', '?')}"
    lines = [f"layer precision   {head}"]
    if record.get("kept_fp32"):
        lines.append(f"  kept FP32 by the ONNX (--keep-fp32): {', '.join(record['kept_fp32'])}")
    return lines


def build_summary(sidecar: dict[str, Any]) -> list[str]:
    """What `vggdeploy build-engine` prints about the engine :func:`build_engine` just wrote."""
    engine, prof = sidecar["engine"], sidecar["profile"]
    return [
        f"{sidecar['precision']} engine for {sidecar['device']['name']} "
        f"(TensorRT {sidecar['tensorrt']['version']}): batch {prof['min'][0]}..{prof['max'][0]} "
        f"(opt {prof['opt'][0]}), {engine['size'] / 1e6:.1f} MB, built in "
        f"{sidecar['build']['seconds']:.1f} s",
        *layer_precision_lines(sidecar.get("layer_precision")),
        f"wrote {sidecar['build']['output']} and its .json sidecar",
    ]
