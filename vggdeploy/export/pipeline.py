"""The precision stage: ``model.onnx`` and its FP16 / INT8 variants (see
:mod:`vggdeploy.export.fp16`,
:mod:`vggdeploy.export.quantize`).

``export_variants(RUN, precisions=("fp16", "int8"))`` derives ``model.fp16.onnx``,
``model.int8.onnx`` (TensorRT target) and ``model.int8-cpu.onnx`` from ``model.onnx``. It reads
each input once: the checkpoint (the PyTorch reference and the sha256 provenance check),
``model.onnx`` (when it is up to date: its recorded checkpoint sha256, ModelSpec and export
settings match and its report says it was verified; the variants' ModelSpec then comes from its
metadata), and the test split. A missing or stale ``model.onnx`` is exported again, once, never
silently used; ``fp32`` among the precisions always exports it again.

Each variant is verified against PyTorch like the FP32 model (batch 1, 7, max) and its test-set
accuracy is compared with the FP32 ONNX model; a variant that loses more than its allowed
accuracy is not written (its report says why).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vggdeploy import _args
from vggdeploy._io import Log, ensure_writable_dir, reporter, sha256_bytes, write_json
from vggdeploy.artifacts.onnx_meta import (
    DEFAULT_VERIFIED_MAX_BATCH,
    META_CHECKPOINT,
    ONNX_METADATA_KEY,
    spec_metadata,
)
from vggdeploy.artifacts.provenance import mismatch
from vggdeploy.artifacts.run_folder import report_path_for
from vggdeploy.artifacts.variants import variant_path
from vggdeploy.export import keep as keep_mod
from vggdeploy.export.judge import (
    TOLERANCES,
    Tolerance,
    VariantCheck,
    fp32_reference,
    write_variant,
)
from vggdeploy.export.onnx import (
    DEFAULT_OPSET,
    FP32_ATOL,
    FP32_RTOL,
    ExportResult,
    export_checkpoint,
    model_path_for,
)
from vggdeploy.export.plan import ExportPlan, parse_precisions
from vggdeploy.export.quantize import (
    DEFAULT_CALIB_METHOD,
    DEFAULT_CALIB_SIZE,
    INT8_TARGETS,
    calibration_images,
)
from vggdeploy.runlock import run_lock
from vggdeploy.spec import ModelSpec, check_batch_memory

__all__ = [
    "TOLERANCES",
    "Tolerance",
    "export_onnx",
    "export_variants",
    "parse_precisions",
    "summary_lines",
]


def current_fp32(
    target: Path, ckpt: Any, settings: dict[str, Any]
) -> tuple[ExportResult, bytes, Any] | str:
    """(result, bytes, ModelProto) of ``target`` when it is up to date for ``ckpt`` and the
    requested export ``settings``; otherwise the reason it is not. Reads the report and the model
    once each."""
    report_path = report_path_for(target)
    if not target.is_file():
        return f"{target.name} does not exist"
    try:
        report = json.loads(report_path.read_text())
        blob = target.read_bytes()
    except (OSError, ValueError) as exc:
        return f"{report_path.name} or {target.name} is unreadable ({exc})"
    if not isinstance(report, dict) or report.get("written") is not True:
        return f"{report_path.name} does not record a written model"
    if report.get("sha256") != sha256_bytes(blob):
        return f"{target.name} is not the model {report_path.name} describes (sha256 differs)"
    import onnx

    try:
        proto = onnx.load_from_string(blob)
    except Exception as exc:  # DecodeError and friends
        return f"{target.name} is not a readable ONNX model ({exc})"
    props = {p.key: p.value for p in proto.metadata_props}
    stale = mismatch(
        props.get(META_CHECKPOINT),
        ckpt.weights_sha256,
        artifact=target.name,
        source=f"the checkpoint '{ckpt.weights_path}'",
        what="checkpoint sha256",
    )
    if stale:
        return stale
    if props.get(ONNX_METADATA_KEY) != spec_metadata(ckpt.spec)[ONNX_METADATA_KEY]:
        return f"{target.name} carries another ModelSpec than the checkpoint's model.json"
    for key in ("opset", "max_batch"):
        if report.get(key) != settings[key]:
            return f"{target.name} has {key} {report.get(key)}, requested {settings[key]}"
    if settings["simplify"] is not None and report.get("simplified") != settings["simplify"]:
        return f"{target.name} has simplified={report.get('simplified')}, requested otherwise"
    verification = report.get("verification")
    if settings["verify"]:
        if not isinstance(verification, dict) or verification.get("passed") is not True:
            return f"{target.name} was not verified against PyTorch"
        tol = (verification.get("atol"), verification.get("rtol"))
        if tol != (settings["atol"], settings["rtol"]):
            return f"{target.name} was verified with atol/rtol {tol}, requested another"
    report.pop("written")
    return ExportResult(path=target, report_path=report_path, report=report), blob, proto


def export_onnx(
    checkpoint: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, **options: Any
) -> ExportResult:
    """Export ``checkpoint`` to ONNX (FP32), verified against PyTorch: the one public FP32 entry
    point, :func:`export_variants` with ``precisions=("fp32",)`` (so it holds the run lock too);
    ``options`` are that function's (``opset``, ``max_batch``, ``simplify``, ``verify``,
    ``atol``, ``rtol``, ``data_dir``, ``log``)."""
    return export_variants(checkpoint, out, precisions=("fp32",), **options)["fp32"]


@dataclass
class StageInputs:
    """Everything the variants are made from, each read once."""

    ckpt: Any  # the checkpoint (PyTorch reference, weights sha256)
    spec: ModelSpec  # from model.onnx when it was reused (equal to the checkpoint's)
    fp32: ExportResult
    blob: bytes  # model.onnx's bytes: what the variants are made from
    proto: Any  # the same as a ModelProto (None when no variant is asked for)
    calib: Any  # calibration images (TRAIN split; None without variants)
    test: Any  # the test split (None without verification)


def export_variants(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    precisions: str | Sequence[str] = ("fp32",),
    targets: str | Sequence[str] = "all",
    opset: int = DEFAULT_OPSET,
    max_batch: int = DEFAULT_VERIFIED_MAX_BATCH,
    simplify: bool | None = None,
    verify: bool = True,
    atol: float = FP32_ATOL,
    rtol: float = FP32_RTOL,
    calib_size: int = DEFAULT_CALIB_SIZE,
    calib_method: str = DEFAULT_CALIB_METHOD,
    data_dir: str | os.PathLike[str] | None = None,
    limit_test: int | None = None,
    keep_fp32: str | Sequence[str] = (),
    log: Log | None = None,
) -> dict[str, ExportResult]:
    """``model.onnx`` (exported when ``fp32`` is requested or it is missing or stale) and the
    requested variants. Returns {"fp32": ..., "fp16": ..., "int8": ..., "int8-cpu": ...} for
    what was written or reused. ``limit_test`` evaluates variants on the first N test images
    only (large presets on CPU). ``keep_fp32`` names layers (FP32 node or output tensor names,
    see ``vggdeploy debug-precision``) the FP16/INT8 variants keep in FP32; recorded in each
    variant's metadata (``vggdeploy.keep_fp32``) and report.

    The stage: read once (checkpoint, model.onnx or a fresh export, data) -> make each variant
    (``keep.make_fp16`` / ``keep.make_int8``) -> judge it against the FP32 model -> write it."""
    say = reporter(log)
    _args.path("checkpoint", checkpoint)
    _args.optional_path("out", out)
    _args.optional_path("data_dir", data_dir)
    plan = ExportPlan.of(
        precisions, targets, calib_size, calib_method, limit_test, keep_fp32,
        opset=opset, max_batch=max_batch, simplify=simplify, verify=verify, atol=atol, rtol=rtol,
    )  # fmt: skip
    t_start = time.perf_counter()
    base = model_path_for(checkpoint, out)
    ensure_writable_dir(base.parent, "export folder")  # before minutes of work
    # one writer per run folder (another export or a build-engine there is refused at once)
    with contextlib.ExitStack() as stack:
        stack.enter_context(run_lock(base.parent, "export"))
        inputs = _read_inputs(plan, checkpoint, base, data_dir, say)
        results = {"fp32": inputs.fp32}
        if not plan.variants:
            return results
        keep = _keep_fp32(inputs.proto, plan.keep_fp32, plan.variants, plan.targets)
        check = None
        if verify:
            check = fp32_reference(
                stack, inputs.blob, inputs.ckpt.model, inputs.spec, inputs.test,
                max_batch=max_batch, limit=limit_test, log=say,
            )  # fmt: skip
            fp32 = inputs.fp32
            fp32.report["test_set"] = {"n": check.n_test, "accuracy": check.fp32_accuracy}
            write_json(fp32.report_path, {**fp32.report, "written": True})
        common = {
            k: v for k, v in inputs.fp32.report.items() if k in ("checkpoint_sha256", "opset")
        }
        common["source_onnx_sha256"] = sha256_bytes(inputs.blob)  # what variants came from
        if "fp16" in plan.variants:
            results["fp16"] = _fp16(
                inputs.proto, base, inputs.spec, inputs.calib, common, check, say, keep["fp16"]
            )
        if "int8" in plan.variants:
            results.update(_int8(plan, inputs, base, common, check, say, keep))
    say(f"done in {time.perf_counter() - t_start:.1f} s")
    return results


def _read_inputs(
    plan: ExportPlan, checkpoint: Any, base: Path, data_dir: Any, say: Log
) -> StageInputs:
    """The one read of each input; model.onnx is reused when up to date, else exported (once)."""
    import onnx

    from vggdeploy.artifacts.checkpoint import read_checkpoint
    from vggdeploy.artifacts.onnx_meta import spec_from_model
    from vggdeploy.export.verify import load_test_split

    settings = plan.settings
    ckpt = read_checkpoint(checkpoint)
    check_batch_memory(ckpt.spec, settings["max_batch"], "--max-batch")  # verified at that batch
    reuse = None if "fp32" in plan.precisions else current_fp32(base, ckpt, settings)
    # the ModelSpec comes from the previous stage's artifact (equal to the checkpoint's)
    spec = spec_from_model(reuse[2], source=str(base)) if isinstance(reuse, tuple) else ckpt.spec
    # TRAIN split only; loaded before the export so missing data fails fast.
    calib = calibration_images(spec, data_dir, plan.calib_size) if plan.variants else None
    test = load_test_split(data_dir) if settings["verify"] else None
    if isinstance(reuse, tuple):
        fp32, blob, proto = reuse
        say(f"{base.name} is up to date (checkpoint sha256 {ckpt.weights_sha256[:12]}): reused")
    else:
        if reuse is not None:
            say(f"{base.name} is exported again: {reuse}")
        fp32, blob = export_checkpoint(
            ckpt,
            base,
            test_images=None if test is None else test.images,
            opset=settings["opset"],
            max_batch=settings["max_batch"],
            simplify=settings["simplify"],
            atol=settings["atol"],
            rtol=settings["rtol"],
            log=say,
        )
        proto = onnx.load_from_string(blob) if plan.variants else None
    return StageInputs(ckpt, spec, fp32, blob, proto, calib, test)


def _int8(
    plan: ExportPlan,
    inputs: StageInputs,
    base: Path,
    common: dict[str, Any],
    check: VariantCheck | None,
    say: Log,
    keep: dict[str, list[str]],
) -> dict[str, ExportResult]:
    """One INT8 variant per target, from one calibration (ranges cached in the run folder)."""
    from vggdeploy.export.quantize import calibrate

    t0 = time.perf_counter()
    ranges_path, key = calibrate(
        inputs.blob,
        inputs.calib,
        method=plan.calib_method,
        cache_dir=base.parent,
        input_name=inputs.spec.input.name,
        log=say,
    )
    calib_s = time.perf_counter() - t0
    results: dict[str, ExportResult] = {}
    try:
        for target in plan.targets:
            t1 = time.perf_counter()
            tag = INT8_TARGETS[target]
            path = variant_path(base, tag)
            say(f"INT8 ({target}) -> {path.name}")
            q = keep_mod.make_int8(
                inputs.blob, ranges_path, target=target, method=plan.calib_method,
                keep_fp32=keep[target],
            )  # fmt: skip
            report = {**common, "model": str(path), "precision": "int8", "target": target}
            report["keep_fp32"] = keep[target]
            report["calibration"] = key
            report["verification_tolerance"] = TOLERANCES["int8"].__dict__
            report["timings"] = {"calibration_s": calib_s, "quantize_s": time.perf_counter() - t1}
            results[tag] = write_variant(
                q,
                path,
                report,
                inputs.proto,
                inputs.spec,
                check,
                precision="int8",
                tag=tag,
                source_sha256=common["source_onnx_sha256"],
                log=say,
            )
    finally:
        ranges_path.unlink(missing_ok=True)
    return results


def _fp16(
    proto: Any,
    base: Path,
    spec: Any,
    calib: Any,
    common: dict[str, Any],
    check: VariantCheck | None,
    say: Log,
    keep_fp32: list[str],
) -> ExportResult:
    from vggdeploy.export.fp16 import FP16_MAX, FP32_OPS, fp16_range_check

    t0 = time.perf_counter()
    path = variant_path(base, "fp16")
    say(f"FP16 -> {path.name}")
    ranges = fp16_range_check(proto, calib)
    for name, peak in ranges["tensors_beyond_fp16"].items():
        say(f"  WARNING: activation '{name}' reaches |{peak:.4g}| > {FP16_MAX:g} (FP16 max)")
    half = keep_mod.make_fp16(proto, keep_fp32)
    report = {**common, "model": str(path), "precision": "fp16", "fp32_ops": list(FP32_OPS)}
    report["keep_fp32"] = keep_fp32
    report["activation_range"] = ranges
    report["verification_tolerance"] = TOLERANCES["fp16"].__dict__
    report["timings"] = {"convert_s": time.perf_counter() - t0}
    return write_variant(
        half,
        path,
        report,
        proto,
        spec,
        check,
        precision="fp16",
        tag="fp16",
        source_sha256=common["source_onnx_sha256"],
        log=say,
    )


def _keep_fp32(
    proto: Any, names: str | Sequence[str], variants: Sequence[str], targets: Sequence[str]
) -> dict[str, list[str]]:
    """The validated --keep-fp32 node names per variant ("fp16", and each INT8 target)."""
    keep: dict[str, list[str]] = {"fp16": [], **{t: [] for t in INT8_TARGETS}}
    if not names:
        return keep
    if "fp16" in variants:
        keep["fp16"] = keep_mod.resolve_layers(proto, names, "fp16")
    if "int8" in variants:
        for target in targets:
            keep[target] = keep_mod.resolve_layers(proto, names, "int8", target)
    return keep


def summary_lines(results: dict[str, ExportResult]) -> list[str]:
    """The table `vggdeploy export` prints: each file's test accuracy, its drop against FP32, and
    its agreement / max|Δ| with its reference."""
    lines = [f"{'file':<22} {'test acc':>9} {'drop pt':>8} {'agree':>8} {'max|Δ|':>9}"]
    for result in results.values():
        r = result.report
        v = r.get("verification") or {}
        ts = v.get("test_set") or {}
        if r["precision"] == "fp32":
            acc = (r.get("test_set") or {}).get("accuracy")
            drop, agree, diff = 0.0, v.get("top1_agreement"), v.get("max_abs")
        else:
            acc, drop = ts.get("out_accuracy"), ts.get("accuracy_drop_pt")
            agree, diff = ts.get("top1_agreement"), ts.get("max_abs")
        lines.append(
            f"{result.path.name:<22} {_pct(acc):>9} {_num(drop, '+.2f'):>8} "
            f"{_pct(agree):>8} {_num(diff, '.3g'):>9}"
        )
    lines.append(
        "agree / max|Δ|: model.onnx vs PyTorch (verification batches); variants vs model.onnx "
        "on the test set"
    )
    return lines


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)
