"""Build a TensorRT plan from the export stage's ONNX, plus its sidecar (TensorRT 10.x and 11.x).

Precision comes from the ONNX file, never from builder flags: ``model.fp16.onnx`` carries FP16
casts, ``model.int8.onnx`` explicit Q/DQ nodes, and the network is strongly typed (the
``STRONGLY_TYPED`` creation flag on 10.x; always on in 11.x, where the weak-typing flags
``BuilderFlag.FP16/INT8`` and the INT8 calibrator were removed). One build path therefore serves
both major versions and the engine computes exactly the types the ONNX declares.

A build is three steps, each a function of its own: :func:`create_network` (parse the ONNX into a
strongly typed network, checked against its ModelSpec), :func:`.config.create_config` (the builder
configuration alone: profile, workspace, optimization level, compatibility, verbosity, progress,
timing cache) and :func:`build_plan` (serialize); :func:`build_engine` then runs the precision gate
(:mod:`.gate`) on the plan and writes it with its sidecar.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from vggdeploy import _args
from vggdeploy._io import ensure_writable_dir, sha256_file, write_bytes
from vggdeploy.artifacts.onnx_meta import load_onnx, spec_from_model, verified_max_batch
from vggdeploy.artifacts.variants import EXPORT_PRECISIONS
from vggdeploy.backends.freshness import check_fresh
from vggdeploy.backends.tensorrt import env
from vggdeploy.backends.tensorrt.config import ProgressCallback, create_config
from vggdeploy.backends.tensorrt.gate import precision_gate
from vggdeploy.backends.tensorrt.onnx import check_precision_content, resolve_onnx
from vggdeploy.backends.tensorrt.sidecar import HARDWARE_COMPAT, make_sidecar, write_sidecar
from vggdeploy.errors import ArtifactError, UsageError, VggDeployError
from vggdeploy.runlock import holds_source_lock

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
#: the batch TensorRT tunes tactics for, clipped into min..max
DEFAULT_OPT_BATCH = 32


def default_opt_batch(min_batch: int, max_batch: int) -> int:
    """DEFAULT_OPT_BATCH within min_batch..max_batch."""
    return max(min_batch, min(DEFAULT_OPT_BATCH, max_batch))


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


def create_network(
    trt: ModuleType,
    builder: Any,
    logger: Any,
    onnx_file: Path,
    spec: Any,
    batch_range: tuple[int, int],
) -> tuple[Any, list[Any], list[Any]]:
    """(network, inputs, outputs): the strongly typed network parsed from ``onnx_file``, checked
    against its ModelSpec and against ``batch_range`` (min, max) for a fixed-batch input."""
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
    in_batch = in_shape[0]
    if in_batch != -1 and batch_range != (in_batch, in_batch):
        raise ArtifactError(
            f"'{onnx_file}' has a fixed batch size {in_batch}; the profile asks for "
            f"{batch_range[0]}..{batch_range[1]}",
            hint="export with a dynamic batch dimension (vggdeploy export does by default)",
        )
    return network, inputs, outputs


def build_plan(builder: Any, network: Any, config: Any, logger: Any, onnx_file: Path) -> bytes:
    """The serialized plan of ``network`` under ``config``; VggDeployError when TensorRT gives
    none (its logged errors say why)."""
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        detail = "; ".join(logger.errors[-5:]) or "see the TensorRT log above"
        raise VggDeployError(
            f"TensorRT failed to build an engine from '{onnx_file}': {detail}",
            hint="TensorRT's messages above say why; a larger --workspace or a lower "
            "--max-batch can help when memory runs out",
        )
    return bytes(memoryview(plan))


@holds_source_lock("build-engine")  # the run folder it reads: no export rewrites it meanwhile
def build_engine(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    precision: str | None = None,
    min_batch: int = 1,
    opt_batch: int | None = None,
    max_batch: int | None = None,
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
    ``max_batch`` None ends the profile at the largest batch the ONNX was verified at (what it
    records: ``export --max-batch``); a larger one is built, with a warning that the batches above
    were never verified. ``opt_batch`` None tunes for :func:`default_opt_batch`; ``device`` is
    "cuda[:N]" or N.
    The engine inspector's per-layer precision is recorded in the sidecar; when a compute layer
    fell back from ``precision`` (and the ONNX does not keep it FP32 deliberately) the build is
    refused (VerificationError, nothing written) unless ``allow_fallback``.
    """
    # Arguments first (exit 2), then the machine (exit 5 / 6), then the files (exit 4).
    _args.path("onnx", onnx_path)
    _args.optional_path("out", out_path)
    _args.integer("--min-batch", min_batch, min=1)  # types, int32, >= 1; the order below
    _args.optional_integer("--opt-batch", opt_batch, min=1)
    _args.optional_integer("--max-batch", max_batch, min=1)  # None: the ONNX's, read later
    if max_batch is not None:
        check_batch_bounds(
            min_batch, default_opt_batch(min_batch, max_batch) if opt_batch is None else opt_batch,
            max_batch,
        )  # fmt: skip
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
    # Before TensorRT is needed and a build of minutes: can the engine be written at all?
    # (default_engine_path's folder does not depend on the precision.)
    target = Path(out_path) if out_path is not None else default_engine_path(onnx_path, "fp32")
    ensure_writable_dir(target.parent, "engine folder")

    trt = env.require_tensorrt("building TensorRT engines")
    device = env.cuda_device_info(device_index)  # type: ignore[assignment]  # now the GPU's facts

    given = Path(onnx_path)
    onnx_file, precision = resolve_onnx(given, precision)
    check_fresh(onnx_file)  # a stale ONNX (or a variant whose model.onnx changed) is refused
    model = load_onnx(onnx_file, load_external_data=False)
    spec = spec_from_model(model, source=str(onnx_file))
    check_precision_content(model, onnx_file, precision)
    verified = verified_max_batch(model)
    if max_batch is None:
        max_batch = verified
    elif max_batch > verified:
        env.log.warning(
            "--max-batch %d: %s was verified up to batch %d only; larger batches are unverified",
            max_batch, onnx_file.name, verified,
        )  # fmt: skip
    if opt_batch is None:
        opt_batch = default_opt_batch(min_batch, max_batch)
    check_batch_bounds(min_batch, opt_batch, max_batch)
    onnx_sha = sha256_file(onnx_file)
    out = Path(out_path) if out_path is not None else default_engine_path(given, precision)
    cache_path = Path(timing_cache) if timing_cache is not None else None

    # network -> config -> plan, then the precision gate; nothing is written before it passes.
    logger = env.make_logger(trt)
    builder = trt.Builder(logger)
    network, inputs, outputs = create_network(
        trt, builder, logger, onnx_file, spec, (min_batch, max_batch)
    )
    want = spec.input
    made = create_config(
        trt,
        builder,
        input_name=want.name,
        chw=(want.channels, want.height, want.width),
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        workspace=workspace,
        opt_level=opt_level,
        version_compatible=version_compatible,
        hardware_compat=hardware_compat,
        progress=progress,
        timing_cache=cache_path,
    )
    config, shapes = made.config, made.shapes
    start = time.perf_counter()
    plan_bytes = build_plan(builder, network, config, logger, onnx_file)
    build_seconds = time.perf_counter() - start
    layer_precision = precision_gate(
        trt, logger, plan_bytes, onnx_file, model, precision, version_compatible, allow_fallback
    )

    write_bytes(out, plan_bytes)  # the plan exactly as TensorRT serialized it: no header
    from vggdeploy.artifacts.written import record_written

    record_written(out.parent, out, "build-engine")  # native code vggdeploy built (README)
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
