"""Build a TensorRT plan from the export stage's ONNX, plus its sidecar (TensorRT 10.x and 11.x).

Precision comes from the ONNX file, never from builder flags: ``model.fp16.onnx`` carries FP16
casts, ``model.int8.onnx`` explicit Q/DQ nodes, and the network is strongly typed (the
``STRONGLY_TYPED`` creation flag on 10.x; always on in 11.x, where the weak-typing flags
``BuilderFlag.FP16/INT8`` and the INT8 calibrator were removed). One build path therefore serves
both major versions and the engine computes exactly the types the ONNX declares.
"""

from __future__ import annotations

import os
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from vggdeploy import _args
from vggdeploy._io import sha256_file, write_bytes
from vggdeploy.artifacts.onnx_meta import load_onnx, spec_from_model
from vggdeploy.artifacts.variants import EXPORT_PRECISIONS
from vggdeploy.backends.freshness import check_fresh
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.backends.tensorrt import env
from vggdeploy.backends.tensorrt.gate import precision_gate
from vggdeploy.backends.tensorrt.onnx import check_precision_content, resolve_onnx
from vggdeploy.backends.tensorrt.sidecar import HARDWARE_COMPAT, make_sidecar, write_sidecar
from vggdeploy.errors import ArtifactError, UsageError, VggDeployError

_HW_LEVEL = {"none": "NONE", "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}
_DTYPE_NAMES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "FP8": "float8",
}


#: the profile's largest batch unless --max-batch says otherwise
DEFAULT_ENGINE_MAX_BATCH: int = BACKENDS["tensorrt"].default_max_batch or 128
#: the batch TensorRT tunes tactics for, clipped into min..max
DEFAULT_OPT_BATCH = 32


def default_opt_batch(min_batch: int, max_batch: int) -> int:
    """DEFAULT_OPT_BATCH within min_batch..max_batch."""
    return max(min_batch, min(DEFAULT_OPT_BATCH, max_batch))


@dataclass(frozen=True)
class ProgressEvent:
    """One report from TensorRT's IProgressMonitor: a phase started, advanced or finished."""

    kind: str  # "start" | "step" | "finish"
    phase: str
    parent: str | None
    done: int
    total: int


ProgressCallback = Callable[[ProgressEvent], None]


def check_batch_bounds(min_batch: int, opt_batch: int, max_batch: int) -> None:
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise UsageError(
            f"invalid batch profile: need 1 <= min ({min_batch}) <= opt ({opt_batch}) <= "
            f"max ({max_batch})",
            hint="e.g. --min-batch 1 --opt-batch 32 --max-batch 128",
        )


_UNITS = {"": 2**20, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30}


_MAX_SIZE = 2**63 - 1


def parse_size(text: str | int) -> int:
    """'4G', '512M', '1GiB', '65536B' -> bytes; a bare number means MiB (as in trtexec)."""
    # [0-9], not \d: \d also matches '١٢' and '５'; bool is an int, never a size
    ascii_text = not isinstance(text, bool) and str(text).isascii()
    m = (
        None
        if not ascii_text
        else re.fullmatch(r"\s*([0-9]+)\s*([BKMG]?)(?:I?B)?\s*", str(text).upper())
    )
    if not m or int(m.group(1)) <= 0:
        raise UsageError(
            f"invalid size '{text}'",
            hint="a positive number with a unit, e.g. 512M or 4G (no unit means MiB)",
        )
    nbytes = int(m.group(1)) * _UNITS[m.group(2)]
    if nbytes > _MAX_SIZE:  # TensorRT's memory pool limit is a size_t; the sidecar an int64
        raise UsageError(f"size '{text}' is {nbytes} bytes, more than 2**63-1")
    return nbytes


def format_size(nbytes: int) -> str:
    for unit in ("G", "M", "K"):
        if nbytes % _UNITS[unit] == 0:
            return f"{nbytes // _UNITS[unit]}{unit}"
    return f"{nbytes}B"


def default_engine_path(onnx_path: str | os.PathLike[str], precision: str) -> Path:
    """engines/NAME.<precision>.engine, NAME being the run folder holding the ONNX."""
    p = Path(onnx_path).resolve()
    name = p.parent.name or p.name.split(".")[0]
    return Path("engines") / f"{name}.{precision}.engine"


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", str(dtype).rsplit(".", 1)[-1])
    return _DTYPE_NAMES.get(name, name.lower())


def _tensor_info(tensor: Any, mode: str) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "mode": mode,
        "dtype": _dtype_name(tensor.dtype),
        "shape": [int(d) for d in tensor.shape],
    }


def _make_progress_monitor(trt: ModuleType, callback: ProgressCallback) -> Any:
    """An IProgressMonitor (TensorRT >= 10) that forwards to ``callback`` from builder threads."""

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._parents: dict[str, str | None] = {}
            self._totals: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                self._parents[phase_name] = parent_phase
                self._totals[phase_name] = int(num_steps)
                callback(ProgressEvent("start", phase_name, parent_phase, 0, int(num_steps)))

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                total = self._totals.get(phase_name, step + 1)
                parent = self._parents.get(phase_name)
                callback(ProgressEvent("step", phase_name, parent, step + 1, total))
            return True  # keep building

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                total = self._totals.pop(phase_name, 0)
                parent = self._parents.pop(phase_name, None)
                callback(ProgressEvent("finish", phase_name, parent, total, total))

    return _Monitor()


def _command(
    given: Path, precision: str, out: Path, opts: dict[str, Any], timing_cache: Path | None
) -> str:
    parts = ["vggdeploy", "build-engine", str(given)]
    if precision != "fp32":
        parts.append(f"--{precision}")
    parts += ["--min-batch", str(opts["min_batch"]), "--opt-batch", str(opts["opt_batch"])]
    parts += ["--max-batch", str(opts["max_batch"])]
    if opts["workspace"] is not None:
        parts += ["--workspace", format_size(opts["workspace"])]
    if opts["opt_level"] is not None:
        parts += ["--opt-level", str(opts["opt_level"])]
    if timing_cache is not None:
        parts += ["--timing-cache", str(timing_cache)]
    if opts["version_compatible"]:
        parts.append("--version-compatible")
    if opts["hardware_compat"] != "none":
        parts += ["--hardware-compat", opts["hardware_compat"]]
    if opts["allow_fallback"]:
        parts.append("--allow-fallback")
    parts += ["-o", str(out)]
    return shlex.join(parts)  # a path with spaces stays one argument when pasted into a shell


def _parse_network(
    trt: ModuleType, builder: Any, logger: Any, onnx_file: Path, spec: Any
) -> tuple[Any, list[Any], list[Any]]:
    """A strongly typed network parsed from ``onnx_file``, checked against its ModelSpec."""
    if env.trt_major(trt) >= 11:
        network = builder.create_network(0)  # strongly typed is the only mode in 11.x
    else:
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or logger.errors
        raise ArtifactError(
            f"TensorRT could not parse '{onnx_file}': " + "; ".join(errors[:5]),
            hint="re-export it with `vggdeploy export RUN` (opset and operators TensorRT supports)",
        )
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    want = spec.input
    if len(inputs) != 1 or inputs[0].name != want.name:
        names = [t.name for t in inputs]
        raise ArtifactError(
            f"'{onnx_file}' has inputs {names}; its ModelSpec expects one input '{want.name}'",
            hint="re-export the model with `vggdeploy export RUN`",
        )
    in_shape = [int(d) for d in inputs[0].shape]
    if len(in_shape) != 4 or in_shape[1:] != [want.channels, want.height, want.width]:
        raise ArtifactError(
            f"'{onnx_file}' input shape {in_shape} does not match its ModelSpec "
            f"(batch, {want.channels}, {want.height}, {want.width})"
        )
    return network, inputs, outputs


def _load_timing_cache(config: Any, path: Path) -> Any:
    """Set the builder's timing cache from ``path`` (a fresh one if absent or unreadable)."""
    blob = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(blob)
    except Exception:  # the bindings raise on a corrupt cache
        cache = None
    if cache is None:  # unreadable or from another TensorRT: start a fresh one
        env.log.warning("timing cache %s could not be loaded; starting a new one", path)
        cache = config.create_timing_cache(b"")
    # ignore_mismatch=False: a cache from another GPU/TensorRT must not steer tactics here.
    config.set_timing_cache(cache, False)
    return cache


def build_engine(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    precision: str | None = None,
    min_batch: int = 1,
    opt_batch: int | None = None,
    max_batch: int = DEFAULT_ENGINE_MAX_BATCH,
    workspace: int | None = None,
    timing_cache: str | os.PathLike[str] | None = None,
    opt_level: int | None = None,
    version_compatible: bool = False,
    hardware_compat: str = "none",
    progress: ProgressCallback | None = None,
    device: str | int = "cuda:0",
    allow_fallback: bool = False,
) -> dict[str, Any]:
    """Build ``out_path`` (a plain plan) and ``out_path.json`` (its sidecar); return the sidecar.

    ``precision`` None takes it from the file name (model.fp16.onnx -> fp16); "fp16"/"int8" with
    ``model.onnx`` picks the sibling model.fp16.onnx / model.int8.onnx from the export stage.
    ``workspace`` is the builder's workspace memory-pool limit in bytes (None: TensorRT's default).
    ``opt_batch`` None tunes for :func:`default_opt_batch`; ``device`` is "cuda[:N]" or N.
    The engine inspector's per-layer precision is recorded in the sidecar; when a compute layer
    fell back from ``precision`` (and the ONNX does not keep it FP32 deliberately) the build is
    refused (VerificationError, nothing written) unless ``allow_fallback``.
    """
    # Arguments first (exit 2), then the machine (exit 5 / 6), then the files (exit 4).
    _args.path("onnx", onnx_path)
    _args.optional_path("out", out_path)
    _args.integer("--min-batch", min_batch, min=1)
    _args.optional_integer("--opt-batch", opt_batch, min=1)
    _args.integer("--max-batch", max_batch, min=1)
    if opt_batch is None:
        opt_batch = default_opt_batch(min_batch, max_batch)
    check_batch_bounds(min_batch, opt_batch, max_batch)
    device_index = env.cuda_index(device)
    if precision is not None and precision not in EXPORT_PRECISIONS:
        raise UsageError(
            f"unknown precision '{precision}'", hint=f"one of {', '.join(EXPORT_PRECISIONS)}"
        )
    if hardware_compat not in HARDWARE_COMPAT:
        raise UsageError(
            f"unknown hardware compatibility '{hardware_compat}'",
            hint=f"one of {', '.join(HARDWARE_COMPAT)}",
        )
    _args.optional_integer("--workspace", workspace, min=1, max=_MAX_SIZE)
    _args.optional_integer("--opt-level", opt_level)
    _args.boolean("--version-compatible", version_compatible)
    _args.boolean("--allow-fallback", allow_fallback)
    if opt_level is not None and not 0 <= opt_level <= 5:
        raise UsageError(f"--opt-level must be 0..5 (TensorRT's default is 3), got {opt_level}")

    trt = env.require_tensorrt("building TensorRT engines")
    device = env.cuda_device_info(device_index)  # type: ignore[assignment]  # now the GPU's facts

    given = Path(onnx_path)
    onnx_file, precision = resolve_onnx(given, precision)
    check_fresh(onnx_file)  # a stale ONNX (or a variant whose model.onnx changed) is refused
    model = load_onnx(onnx_file, load_external_data=False)
    spec = spec_from_model(model, source=str(onnx_file))
    check_precision_content(model, onnx_file, precision)
    onnx_sha = sha256_file(onnx_file)
    out = Path(out_path) if out_path is not None else default_engine_path(given, precision)
    cache_path = Path(timing_cache) if timing_cache is not None else None

    logger = env.make_logger(trt)
    builder = trt.Builder(logger)
    network, inputs, outputs = _parse_network(trt, builder, logger, onnx_file, spec)
    in_batch = int(inputs[0].shape[0])
    if in_batch != -1 and not (min_batch == max_batch == in_batch):
        raise ArtifactError(
            f"'{onnx_file}' has a fixed batch size {in_batch}; the profile asks for "
            f"{min_batch}..{max_batch}",
            hint="export with a dynamic batch dimension (vggdeploy export does by default)",
        )
    want = spec.input

    config = builder.create_builder_config()
    chw = (want.channels, want.height, want.width)
    shapes = {"min": (min_batch, *chw), "opt": (opt_batch, *chw), "max": (max_batch, *chw)}
    profile = builder.create_optimization_profile()
    profile.set_shape(want.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
    if opt_level is not None:
        config.builder_optimization_level = int(opt_level)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if hardware_compat != "none":
        level_name = _HW_LEVEL[hardware_compat]
        level = getattr(trt.HardwareCompatibilityLevel, level_name, None)
        if level is None:
            raise UsageError(
                f"--hardware-compat {hardware_compat} needs a newer TensorRT "
                f"(HardwareCompatibilityLevel.{level_name} is missing in {trt.__version__})",
                hint="pip install -U tensorrt, or use --hardware-compat ampere+",
            )
        config.hardware_compatibility_level = level
    # Detailed layer information lets `inspect` show each layer's tactic, types and formats.
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if progress is not None:
        monitor = _make_progress_monitor(trt, progress)
        config.progress_monitor = monitor

    if cache_path is not None:
        _load_timing_cache(config, cache_path)

    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    build_seconds = time.perf_counter() - start
    if plan is None:
        detail = "; ".join(logger.errors[-5:]) or "see the TensorRT log above"
        raise VggDeployError(
            f"TensorRT failed to build an engine from '{onnx_file}': {detail}",
            hint="TensorRT's messages above say why; a larger --workspace or a lower "
            "--max-batch can help when memory runs out",
        )
    plan_bytes = bytes(memoryview(plan))
    layer_precision = precision_gate(
        trt, logger, plan_bytes, onnx_file, model, precision, version_compatible, allow_fallback
    )

    write_bytes(out, plan_bytes)  # the plan exactly as TensorRT serialized it: no header
    if cache_path is not None:
        write_bytes(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))

    opts = {
        "min_batch": min_batch,
        "opt_batch": opt_batch,
        "max_batch": max_batch,
        "workspace": workspace,
        "opt_level": opt_level,
        "version_compatible": version_compatible,
        "hardware_compat": hardware_compat,
        "allow_fallback": bool(allow_fallback),
    }
    io = [_tensor_info(t, "input") for t in inputs] + [_tensor_info(t, "output") for t in outputs]
    data = make_sidecar(
        engine_file=out.name,
        plan=plan_bytes,
        trt_version=str(trt.__version__),
        device=device,
        precision=precision,
        spec=spec,
        shapes=shapes,
        io=io,
        source_onnx=(onnx_file.name, onnx_sha),
        version_compatible=bool(version_compatible),
        hardware_compat=hardware_compat,
        layer_precision=layer_precision,
        build={
            **opts,
            "timing_cache": str(cache_path) if cache_path is not None else None,
            "strongly_typed": True,
            "profiling_verbosity": "detailed",
            "seconds": round(build_seconds, 3),
            "output": str(out),
            "command": _command(given, precision, out, opts, cache_path),
        },
    )
    write_sidecar(out, data)
    return data
