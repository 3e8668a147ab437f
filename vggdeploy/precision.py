"""Precision variants of the exported model: FP16 and INT8 (see :mod:`vggdeploy.quantize`).

``export_variants(RUN, precisions=("fp32", "fp16", "int8"))`` exports ``model.onnx`` and derives
``model.fp16.onnx``, ``model.int8.onnx`` (TensorRT target) and ``model.int8-cpu.onnx`` from it.
Each variant is verified against PyTorch like the FP32 model (batch 1, 7, max) and its test-set
accuracy is compared with the FP32 ONNX model; a variant that loses more than its allowed
accuracy is not written (its report says why).

FP16: every float weight and op in FP16, the graph input and output stay FP32 with a Cast at each
edge (TensorRT 11 builds FP16 engines from such a model; it has no FP16 builder flag).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import sha256_bytes, write_bytes, write_json
from .compare import accuracy, compare_logits, format_metrics
from .errors import UsageError, VerificationError
from .export import (
    DEFAULT_MAX_BATCH,
    DEFAULT_OPSET,
    FP32_ATOL,
    FP32_RTOL,
    META_PRECISION,
    VERIFY_BATCHES,
    ExportResult,
    annotate,
    check_onnx,
    export_onnx,
    onnx_logits,
    ort_session,
    raise_if_failed,
    report_path_for,
    verify_onnx,
)
from .quantize import (
    DEFAULT_CALIB_METHOD,
    DEFAULT_CALIB_SIZE,
    INT8_TARGETS,
    calibrate,
    calibration_images,
    quantize_int8,
)
from .spec import ModelSpec
from .variants import EXPORT_PRECISIONS, Log, variant_path

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


@dataclass(frozen=True)
class Tolerance:
    """How far a variant may be from PyTorch FP32: element-wise (None = not checked) and in
    test-set top-1 accuracy (percentage points below the FP32 ONNX model)."""

    atol: float | None
    rtol: float | None
    max_accuracy_drop_pt: float


TOLERANCES = {
    "fp16": Tolerance(atol=5e-2, rtol=5e-2, max_accuracy_drop_pt=0.3),
    "int8": Tolerance(atol=None, rtol=None, max_accuracy_drop_pt=1.0),
}
# A loss of this many test images is never judged: on a small test split one flipped near-tie is
# already more than 0.3 pt (on the 10,000-image split the point limits above decide).
NOISE_IMAGES = 3


# ---- FP16 --------------------------------------------------------------------------------------
def convert_fp16(proto: Any, keep_fp32: Sequence[str] = ()) -> Any:
    """FP16 copy of an FP32 ModelProto with FP32 I/O (Cast at the edges) and FP32_OPS kept, and
    the nodes named in ``keep_fp32`` (validate the names with ``vggdeploy.debug.keep``)."""
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


def fp16_range_check(
    proto: Any, x: np.ndarray, *, input_name: str = "input", chunk: int = 64
) -> dict[str, Any]:
    """Largest |value| of every intermediate float tensor on ``x`` (FP32 model); tensors beyond
    the FP16 range would become inf in the FP16 model."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name and name not in known:
                probe.graph.output.add(name=name)
                known.add(name)
    session = ort_session(probe)
    names = [o.name for o in session.get_outputs()]
    peak = dict.fromkeys(names, 0.0)
    for i in range(0, len(x), chunk):
        for name, value in zip(
            names, session.run(None, {input_name: x[i : i + chunk]}), strict=True
        ):
            if np.issubdtype(np.asarray(value).dtype, np.floating) and np.size(value):
                peak[name] = max(peak[name], float(np.abs(value).max()))
    over = {n: v for n, v in peak.items() if v > FP16_MAX}
    return {
        "samples": int(len(x)),
        "max_abs_activation": max(peak.values(), default=0.0),
        "tensors_beyond_fp16": over,
    }


# ---- verification of a variant ------------------------------------------------------------------
def _assess(
    proto: Any,
    *,
    label: str,
    tol: Tolerance,
    reference: Any,
    spec: ModelSpec,
    inputs: np.ndarray,
    batches: list[int],
    test: tuple[np.ndarray, np.ndarray, np.ndarray, float],
) -> dict[str, Any]:
    """Per-batch parity with PyTorch, and full test-set accuracy and top-1 agreement against the
    FP32 ONNX model (which is verified against PyTorch)."""
    t0 = time.perf_counter()
    test_x, test_y, fp32_logits, fp32_acc = test
    session = ort_session(proto)
    verification = verify_onnx(
        session,
        reference,
        spec,
        inputs,
        batch_sizes=batches,
        atol=tol.atol,
        rtol=tol.rtol,
        label=label,
    )
    logits = onnx_logits(session, test_x)
    test_set = compare_logits(fp32_logits, logits, labels=test_y)  # agreement vs FP32 ONNX
    test_set["fp32_onnx_accuracy"] = fp32_acc
    test_set["accuracy_drop_pt"] = 100.0 * (fp32_acc - test_set["out_accuracy"])
    allowed = max(tol.max_accuracy_drop_pt, 100.0 * NOISE_IMAGES / max(1, test_set["n"]))
    test_set["max_accuracy_drop_pt"] = allowed
    verification["test_set"] = test_set
    if test_set["accuracy_drop_pt"] > allowed + 1e-9:
        verification["passed"] = False
        verification["failure"] = (
            f"test accuracy {100 * test_set['out_accuracy']:.2f}% is "
            f"{test_set['accuracy_drop_pt']:.2f} pt below FP32 ({100 * fp32_acc:.2f}%), "
            f"allowed {allowed:.2f} pt"
        )
    verification["seconds"] = time.perf_counter() - t0
    return verification


def _finish(
    proto: Any,
    path: Path,
    report: dict[str, Any],
    verification: dict[str, Any] | None,
    log: Log,
) -> ExportResult:
    report_path = report_path_for(path)
    blob = proto.SerializeToString()
    report["verification"] = verification
    if verification is not None:
        report.setdefault("timings", {})["verify_s"] = verification.pop("seconds", 0.0)
        for row in verification["batches"]:
            log(f"  batch {row['batch']:>4}: {format_metrics(row)}")
        ts = verification["test_set"]
        log(
            f"  test set ({ts['n']}): accuracy {100 * ts['out_accuracy']:.2f}% "
            f"(FP32 {100 * ts['fp32_onnx_accuracy']:.2f}%, drop {ts['accuracy_drop_pt']:+.2f} pt), "
            f"agreement with FP32 {100 * ts['top1_agreement']:.2f}%, max|Δ| {ts['max_abs']:.3g}"
        )
        if not verification["passed"]:
            write_json(report_path, {**report, "written": False})
            if "failure" in verification:
                raise VerificationError(
                    f"{path.name}: {verification['failure']}",
                    hint=f"details in '{report_path}'; the model was not written."
                    + (
                        " Try another --calib-method or a larger --calib-size"
                        if report.get("precision") == "int8"
                        else ""
                    ),
                )
            raise_if_failed(verification, label=path.name, report_path=report_path)
    report["sha256"] = sha256_bytes(blob)
    write_bytes(path, blob)
    write_json(report_path, {**report, "written": True})
    log(f"wrote {path} ({len(blob) / 1e6:.1f} MB) and {report_path.name}")
    return ExportResult(path=path, report_path=report_path, report=report)


# ---- the stage ---------------------------------------------------------------------------------
def parse_precisions(value: str | Sequence[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for p in str(item).split(","):
            p = p.strip().lower()
            if p == "all":
                out.extend(EXPORT_PRECISIONS)
            elif p in EXPORT_PRECISIONS:
                out.append(p)
            else:
                raise UsageError(f"unknown precision {p!r}", hint="use fp32, fp16, int8 or all")
    return tuple(dict.fromkeys(out))


def export_variants(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    precisions: str | Sequence[str] = ("fp32",),
    targets: Sequence[str] = tuple(INT8_TARGETS),
    opset: int = DEFAULT_OPSET,
    max_batch: int = DEFAULT_MAX_BATCH,
    simplify: bool | None = None,
    verify: bool = True,
    atol: float = FP32_ATOL,
    rtol: float = FP32_RTOL,
    calib_size: int = DEFAULT_CALIB_SIZE,
    calib_method: str = DEFAULT_CALIB_METHOD,
    data_dir: str | os.PathLike[str] | None = None,
    limit_test: int | None = None,
    log: Log | None = None,
) -> dict[str, ExportResult]:
    """Export FP32 (always: it is the source of the others) and the requested variants.
    Returns {"fp32": ..., "fp16": ..., "int8": ..., "int8-cpu": ...} for what was written.
    ``limit_test`` evaluates variants on the first N test images only (large presets on CPU)."""
    import onnx

    from .checkpoint import load_checkpoint, read_spec

    say = log or (lambda _msg: None)
    wanted = parse_precisions(precisions)
    variants = [p for p in wanted if p != "fp32"]
    bad = [t for t in targets if t not in INT8_TARGETS]
    if bad or not targets:
        raise UsageError(f"unknown --target {bad or targets}", hint=f"use {tuple(INT8_TARGETS)}")
    if "int8" in wanted:
        from .quantize import CALIB_METHODS

        if calib_method not in CALIB_METHODS:
            raise UsageError(f"unknown --calib-method {calib_method!r}", hint=f"{CALIB_METHODS}")
        if not isinstance(calib_size, int) or calib_size < 1:
            raise UsageError(f"--calib-size must be >= 1, got {calib_size}")
    if limit_test is not None and limit_test < 1:
        raise UsageError(f"--limit-test must be >= 1, got {limit_test}")
    t_start = time.perf_counter()
    calib = None
    if "int8" in variants or "fp16" in variants:
        # TRAIN split only; loaded before the export so missing data fails fast.
        calib = calibration_images(read_spec(checkpoint), data_dir, calib_size)
    results = {
        "fp32": export_onnx(
            checkpoint,
            out,
            opset=opset,
            max_batch=max_batch,
            simplify=simplify,
            verify=verify,
            atol=atol,
            rtol=rtol,
            data_dir=data_dir,
            log=say,
        )
    }
    if not variants:
        return results
    base = results["fp32"].path
    fp32 = onnx.load(str(base))
    model, spec = load_checkpoint(checkpoint)
    context: dict[str, Any] = {}
    if verify:
        from .data import load_split, preprocess
        from .export import verification_inputs

        batches = sorted(
            {*VERIFY_BATCHES, max_batch} - {b for b in VERIFY_BATCHES if b > max_batch}
        )
        context["inputs"] = verification_inputs(spec, data_dir, sum(batches))
        context["batches"] = batches
        split = load_split("test", data_dir)
        n_test = len(split) if limit_test is None else min(limit_test, len(split))
        test_x = preprocess(split.images[:n_test], spec)
        t0 = time.perf_counter()
        # The FP32 ONNX model is the test-set reference: it was just verified against PyTorch,
        # and a full PyTorch pass costs 3-5x more CPU time than ONNX Runtime.
        fp32_logits = onnx_logits(ort_session(fp32), test_x)
        test_y = split.labels[:n_test]
        fp32_acc = accuracy(fp32_logits, test_y)
        say(
            f"test set ({len(test_x)} images): FP32 ONNX accuracy {100 * fp32_acc:.2f}% "
            f"({time.perf_counter() - t0:.1f} s)"
        )
        context["test"] = (test_x, test_y, fp32_logits, fp32_acc)
        results["fp32"].report["test_set"] = {"n": len(test_x), "accuracy": fp32_acc}
        write_json(results["fp32"].report_path, {**results["fp32"].report, "written": True})

    def assess(proto: Any, label: str, precision: str) -> dict[str, Any] | None:
        if not verify:
            return None
        return _assess(
            proto,
            label=label,
            tol=TOLERANCES[precision],
            reference=model,
            spec=spec,
            inputs=context["inputs"],
            batches=context["batches"],
            test=context["test"],
        )

    common = {
        k: v for k, v in results["fp32"].report.items() if k in ("checkpoint_sha256", "opset")
    }
    if "fp16" in variants:
        t0 = time.perf_counter()
        path = variant_path(base, "fp16")
        say(f"FP16 -> {path.name}")
        ranges = fp16_range_check(fp32, calib, input_name=spec.input.name)
        for name, peak in ranges["tensors_beyond_fp16"].items():
            say(f"  WARNING: activation '{name}' reaches |{peak:.4g}| > {FP16_MAX:g} (FP16 max)")
        half = convert_fp16(fp32)
        annotate(half, spec, **_meta(fp32, "fp16"))
        half = check_onnx(half, spec, what=path.name)
        report = {**common, "model": str(path), "precision": "fp16", "fp32_ops": list(FP32_OPS)}
        report["activation_range"] = ranges
        report["verification_tolerance"] = TOLERANCES["fp16"].__dict__
        report["timings"] = {"convert_s": time.perf_counter() - t0}
        results["fp16"] = _finish(half, path, report, assess(half, path.name, "fp16"), say)
    if "int8" in variants:
        t0 = time.perf_counter()
        ranges_path, key = calibrate(
            base,
            calib,
            method=calib_method,
            cache_dir=base.parent,
            input_name=spec.input.name,
            log=say,
        )
        calib_s = time.perf_counter() - t0
        try:
            for target in targets:
                t1 = time.perf_counter()
                tag = INT8_TARGETS[target]
                path = variant_path(base, tag)
                say(f"INT8 ({target}) -> {path.name}")
                q = quantize_int8(base, ranges_path, target=target, method=calib_method)
                annotate(q, spec, **_meta(fp32, tag))
                q = check_onnx(q, spec, what=path.name)
                report = {**common, "model": str(path), "precision": "int8", "target": target}
                report["calibration"] = key
                report["verification_tolerance"] = TOLERANCES["int8"].__dict__
                report["timings"] = {
                    "calibration_s": calib_s,
                    "quantize_s": time.perf_counter() - t1,
                }
                results[tag] = _finish(q, path, report, assess(q, path.name, "int8"), say)
        finally:
            ranges_path.unlink(missing_ok=True)
    say(f"done in {time.perf_counter() - t_start:.1f} s")
    return results


def _meta(fp32: Any, precision: str) -> dict[str, str]:
    props = {p.key: p.value for p in fp32.metadata_props if p.key.startswith("vggdeploy.")}
    props.pop("vggdeploy.modelspec", None)
    props[META_PRECISION] = precision
    return props
