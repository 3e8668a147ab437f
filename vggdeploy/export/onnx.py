"""ONNX export with a symbolic batch dimension, structural checks and parity verification.

``export_checkpoint`` (behind ``pipeline.export_onnx(RUN)``) writes ``RUN/model.onnx`` (input
``input`` [batch, C, H, W], output ``logits`` [batch, classes]) with the ModelSpec, the
checkpoint sha256 and tool versions in ``metadata_props``, after ``onnx.checker`` (full check),
strict shape inference and a comparison with PyTorch on real test images at batch 1, 7 and
``max_batch`` (an ONNX Runtime runner over the in-memory model against a PyTorch runner over the
checkpoint). Nothing is written when a check fails except the report JSON, which says why.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy import _args
from vggdeploy._io import Log, reporter, sha256_bytes, write_bytes, write_json
from vggdeploy.artifacts.checkpoint import Checkpoint
from vggdeploy.artifacts.onnx_meta import (
    DEFAULT_VERIFIED_MAX_BATCH,
    META_CHECKPOINT,
    META_EXPORTER,
    META_MAX_BATCH,
    META_PRECISION,
    META_VERSIONS,
)
from vggdeploy.artifacts.run_folder import report_path_for
from vggdeploy.backends.base import open_runner
from vggdeploy.errors import ArtifactError, MissingDependencyError, UsageError
from vggdeploy.export.metrics import format_metrics
from vggdeploy.export.verify import (
    compare_runners,
    raise_if_failed,
    verification_batches,
    verification_inputs,
)
from vggdeploy.spec import ModelSpec

# Opset 20: the torch exporter's own default, parsed by TensorRT 10.x and ONNX Runtime >= 1.17.
DEFAULT_OPSET = 20
FP32_ATOL = 1e-4
FP32_RTOL = 1e-3
BATCH_DIM = "batch"


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the written model
    report_path: Path
    report: dict[str, Any]


# ---- small shared helpers ----------------------------------------------------------------------
def model_path_for(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str] | None) -> Path:
    """Where the FP32 model goes: ``out`` if it names a .onnx file, else ``out``/model.onnx."""
    from vggdeploy.artifacts.checkpoint import resolve_checkpoint

    if out is None:
        spec_path, _ = resolve_checkpoint(checkpoint)
        return spec_path.parent / "model.onnx"
    p = Path(out)
    if p.suffix == ".onnx":
        if p.is_dir():
            raise UsageError(f"-o '{p}' is a folder; name a .onnx file or a folder for model.onnx")
        return p
    return p / "model.onnx"


def tool_versions() -> dict[str, str]:
    from importlib import metadata

    from vggdeploy._version import __version__

    out = {"vggdeploy": __version__}
    for dist in ("torch", "onnx", "onnxruntime", "onnxscript", "onnxslim"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The torch exporter prints progress and logs warnings (e.g. missing torchvision ops)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# ---- export ------------------------------------------------------------------------------------
def check_opset(opset: int) -> int:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or opset < 7 or opset > newest:
        raise UsageError(
            f"--opset {opset} cannot be produced: the installed onnx {onnx.__version__} knows "
            f"opsets 7..{newest}",
            hint=f"use --opset {DEFAULT_OPSET} (the default; TensorRT 10 and ONNX Runtime read it)",
        )
    return opset


def _default_opset(proto: Any) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)


def to_onnx(model: Any, spec: ModelSpec, *, opset: int, max_batch: int) -> tuple[Any, str]:
    """(ModelProto, exporter used). The torch.export-based exporter first; the TorchScript one
    only when the former cannot produce the requested opset (it implements opset >= 18 and
    down-converts, which fails for some opsets)."""
    import torch

    example = torch.zeros(spec.input.shape(2), dtype=torch.float32)
    names = {"input_names": [spec.input.name], "output_names": [spec.output_name]}
    attempts: list[str] = []
    proto = None
    with _quiet_exporter():
        try:
            batch = torch.export.Dim(BATCH_DIM, min=1, max=max(2, max_batch))
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=({0: batch},),
                external_data=False,
                optimize=True,
                **names,
            )
            proto = program.model_proto
            if _default_opset(proto) == opset:
                return proto, "torch.onnx.export(dynamo=True)"
            attempts.append(f"dynamo exporter produced opset {_default_opset(proto)}")
        except Exception as exc:  # the exporter raises many types; the fallback decides
            attempts.append(f"dynamo exporter failed: {type(exc).__name__}: {exc}"[:500])
        limit = 20  # torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
        if opset <= limit:
            import onnx

            buf = io.BytesIO()
            try:
                torch.onnx.export(
                    model,
                    (example,),
                    buf,
                    dynamo=False,
                    opset_version=opset,
                    dynamic_axes={
                        spec.input.name: {0: BATCH_DIM},
                        spec.output_name: {0: BATCH_DIM},
                    },
                    **names,
                )
                proto = onnx.load_from_string(buf.getvalue())
                if _default_opset(proto) == opset:
                    return proto, "torch.onnx.export(dynamo=False)"
                attempts.append(f"TorchScript exporter produced opset {_default_opset(proto)}")
            except Exception as exc:
                attempts.append(f"TorchScript exporter failed: {type(exc).__name__}: {exc}"[:500])
    raise UsageError(
        f"the PyTorch exporter cannot produce opset {opset} for this model ({'; '.join(attempts)})",
        hint=f"use another --opset, e.g. the default {DEFAULT_OPSET}",
    )


def check_onnx(proto: Any, spec: ModelSpec, *, what: str = "the exported model") -> Any:
    """onnx.checker (full) + strict shape inference + the I/O contract; returns the inferred
    model (kept: TensorRT and ORT read value_info)."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ArtifactError(f"{what} fails onnx.checker / shape inference: {exc}") from exc
    graph = inferred.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    problems = []
    if [i.name for i in inputs] != [spec.input.name]:
        problems.append(f"inputs are {[i.name for i in inputs]}, expected [{spec.input.name!r}]")
    if [o.name for o in graph.output] != [spec.output_name]:
        problems.append(f"outputs are {[o.name for o in graph.output]}, expected ['logits']")
    if not problems:
        want = {
            spec.input.name: (inputs[0], spec.input.shape(BATCH_DIM)),
            spec.output_name: (graph.output[0], (BATCH_DIM, spec.num_classes)),
        }
        for name, (vi, shape) in want.items():
            dims = vi.type.tensor_type.shape.dim
            got = tuple(d.dim_param if d.dim_param else d.dim_value for d in dims)
            if len(got) != len(shape) or not isinstance(got[0], str) or got[1:] != shape[1:]:
                problems.append(f"{name} has shape {got}, expected {shape}")
    if problems:
        raise ArtifactError(f"{what} breaks the I/O contract: {'; '.join(problems)}")
    return inferred


def simplify_onnx(proto: Any) -> Any:
    from vggdeploy._optional import require

    onnxslim = require("onnxslim", extra="simplify", purpose="--simplify")
    with _quiet_exporter():
        return onnxslim.slim(proto)


def annotate(proto: Any, spec: ModelSpec, **extra: str) -> None:
    from vggdeploy.artifacts.onnx_meta import set_spec_metadata

    set_spec_metadata(proto, spec, **extra)
    proto.doc_string = f"vggdeploy {spec.preset}: {spec.input.shape(BATCH_DIM)} -> logits"


# ---- the stage ---------------------------------------------------------------------------------
def check_export_options(
    *,
    max_batch: int,
    atol: float,
    rtol: float,
    opset: int,
    simplify: Any = None,
    verify: Any = True,
) -> None:
    """The export arguments' types and ranges (vggdeploy._args): UsageError naming the first."""
    _args.integer("--max-batch", max_batch, min=1)
    _args.number("--atol", atol, min=0)
    _args.number("--rtol", rtol, min=0)
    _args.integer("--opset", opset, min=1)
    _args.optional_boolean("--simplify", simplify)
    _args.boolean("--verify", verify)
    check_opset(opset)


def export_checkpoint(
    ckpt: Checkpoint,
    target: Path,
    *,
    test_images: np.ndarray | None,
    opset: int = DEFAULT_OPSET,
    max_batch: int = DEFAULT_VERIFIED_MAX_BATCH,
    simplify: bool | None = None,
    atol: float = FP32_ATOL,
    rtol: float = FP32_RTOL,
    log: Log | None = None,
) -> tuple[ExportResult, bytes]:
    """Export an already read checkpoint to ``target``; verified on ``test_images`` (the raw test
    split, read once by the caller) unless it is None. Returns the result and the written bytes,
    so later stages need not read the file again."""
    say = reporter(log)
    model, spec = ckpt.model, ckpt.spec
    report_path = report_path_for(target)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    proto, exporter = to_onnx(model, spec, opset=opset, max_batch=max_batch)
    timings["export_s"] = time.perf_counter() - t0
    say(f"exported with {exporter}, opset {opset} ({timings['export_s']:.1f} s)")
    versions = tool_versions()
    meta = {
        META_CHECKPOINT: ckpt.weights_sha256,
        META_VERSIONS: json.dumps(versions, sort_keys=True),
        META_MAX_BATCH: str(max_batch),
        META_PRECISION: "fp32",
        META_EXPORTER: exporter,
    }
    annotate(proto, spec, **meta)
    t0 = time.perf_counter()
    proto = check_onnx(proto, spec)
    timings["check_s"] = time.perf_counter() - t0

    simplified = False
    if simplify or simplify is None:
        try:
            t0 = time.perf_counter()
            slim = simplify_onnx(proto)
            annotate(slim, spec, **meta)  # onnxslim keeps metadata today; do not rely on it
            proto = check_onnx(slim, spec, what="the simplified model")
            simplified = True
            timings["simplify_s"] = time.perf_counter() - t0
        except MissingDependencyError:
            if simplify:
                raise
            say("onnxslim is not installed: model not simplified")

    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    report: dict[str, Any] = {
        "model": str(target),
        "checkpoint": str(ckpt.weights_path),
        "checkpoint_sha256": meta[META_CHECKPOINT],
        "precision": "fp32",
        "opset": opset,
        "exporter": exporter,
        "max_batch": max_batch,
        "simplified": simplified,
        "ops": ops,
        "versions": versions,
        "timings": timings,
    }
    blob = proto.SerializeToString()
    if test_images is not None:
        t0 = time.perf_counter()
        batches = verification_batches(max_batch)
        inputs = verification_inputs(spec, test_images, sum(batches))
        with (
            open_runner("onnxruntime", blob) as candidate,
            open_runner("torch", (model, spec)) as reference,
        ):
            verification = compare_runners(
                candidate,
                reference,
                inputs,
                batch_sizes=batches,
                atol=atol,
                rtol=rtol,
                label=target.name,
            )
        timings["verify_s"] = time.perf_counter() - t0
        report["verification"] = verification
        for row in verification["batches"]:
            say(f"  batch {row['batch']:>4}: {format_metrics(row)}")
        if not verification["passed"]:
            write_json(report_path, {**report, "written": False})
            raise_if_failed(verification, label=target.name, report_path=report_path)
    else:
        report["verification"] = None
    report["sha256"] = sha256_bytes(blob)
    write_bytes(target, blob)
    write_json(report_path, {**report, "written": True})
    say(f"wrote {target} ({len(blob) / 1e6:.1f} MB) and {report_path.name}")
    return ExportResult(path=target, report_path=report_path, report=report), blob


__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_VERIFIED_MAX_BATCH",
    "ExportResult",
    "check_onnx",
    "export_checkpoint",
]
