"""``vggdeploy debug-precision RUN``: where a precision variant departs from the FP32 model.

Runs ``model.onnx`` and the variant on N real test images with every layer's output exposed,
reports each layer's max |Δ|, relative L2 error, cosine similarity and SNR, names the first layer
whose SNR falls below the threshold and ranks layers by the error they add; optionally
(``sensitivity=True``) ranks the compute layers by what keeping each in FP32 recovers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vggdeploy import _args
from vggdeploy._io import Log, ensure_writable_dir, reporter
from vggdeploy.artifacts.onnx_meta import (
    META_CHECKPOINT,
    META_PRECISION,
    load_onnx,
    recorded_keep_fp32,
    spec_from_model,
)
from vggdeploy.artifacts.run_folder import DEBUG_DIR, report_path_for
from vggdeploy.artifacts.variants import VARIANTS_BY_TAG, split_variant, variant_path
from vggdeploy.debug.layers import first_divergent, layer_errors, match_layers, rank_growth
from vggdeploy.debug.report import write_reports
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.export import keep as keep_mod
from vggdeploy.export.metrics import compare_logits
from vggdeploy.export.quantize import INT8_TARGETS

DEFAULT_IMAGES = 300
# 20 dB = relative L2 error 0.1. Healthy INT8 layers of the VGG presets sit near 30-40 dB, FP16
# near 60 dB (measured on vgg-mini); a layer below 20 dB has lost a tenth of its signal.
DEFAULT_THRESHOLD_DB = 20.0
DEBUG_PRECISIONS = ("fp16", "int8")


def variant_tag(precision: str, target: str) -> str:
    if precision not in DEBUG_PRECISIONS:
        raise UsageError(f"unknown --precision {precision!r}", hint="use fp16 or int8")
    if target not in INT8_TARGETS:
        raise UsageError(f"unknown --target {target!r}", hint=f"use one of {tuple(INT8_TARGETS)}")
    return "fp16" if precision == "fp16" else INT8_TARGETS[target]


def _models(run: Path, precision: str, target: str) -> tuple[Path, Path, Any, Any]:
    base = run if split_variant(run) is not None else run / VARIANTS_BY_TAG["fp32"].filename
    if not base.is_file():
        raise ArtifactError(
            f"no FP32 model '{base}'", hint=f"export it first: vggdeploy export {run}"
        )
    tag = variant_tag(precision, target)
    path = variant_path(base, tag)
    if not path.is_file():
        extra = f" --target {target}" if precision == "int8" else ""
        raise ArtifactError(
            f"'{base.parent}' has no {precision} variant ({path.name})",
            hint=f"export it: vggdeploy export {base.parent} --precision {precision}{extra}",
        )
    fp32, variant = load_onnx(base), load_onnx(path)
    fmeta = {p.key: p.value for p in fp32.metadata_props}
    vmeta = {p.key: p.value for p in variant.metadata_props}
    if vmeta.get(META_PRECISION) != tag:  # the export stage records the variant tag
        raise ArtifactError(
            f"'{path}' is not the {tag} variant (its metadata says "
            f"{vmeta.get(META_PRECISION, 'nothing')})",
            hint=f"export it again: vggdeploy export {base.parent} --precision {precision}",
        )
    if not fmeta.get(META_CHECKPOINT) or fmeta.get(META_CHECKPOINT) != vmeta.get(META_CHECKPOINT):
        raise ArtifactError(
            f"'{path.name}' is a variant of another model than '{base}' (checkpoint sha256 "
            f"{vmeta.get(META_CHECKPOINT, '?')[:12]} vs {fmeta.get(META_CHECKPOINT, '?')[:12]})",
            hint=f"export the variants again from this run: vggdeploy export {base.parent} "
            f"--precision {precision}",
        )
    return base, path, fp32, variant


def _test_images(spec: Any, data_dir: Any, images: int) -> tuple[Any, Any]:
    from vggdeploy.data import load_split, preprocess

    split = load_split("test", data_dir)
    if images > len(split):
        raise UsageError(
            f"--images {images} is more than the test split has ({len(split)} images in "
            f"'{split.root}')",
            hint=f"use --images {len(split)} or fewer",
        )
    return preprocess(split.images[:images], spec), split.labels[:images]


def _export_report(path: Path) -> dict[str, Any] | None:
    """The test-set figures the export stage printed for ``path`` (None if not verified)."""
    try:
        ts = (_export_report_full(path) or {})["verification"]["test_set"]
        return {"n": ts["n"], "accuracy": ts["out_accuracy"], "agreement": ts["top1_agreement"]}
    except (KeyError, TypeError):
        return None


MAX_DROP_PT = 100.0  # an accuracy drop in percentage points


def debug_precision(
    run: str | os.PathLike[str],
    *,
    precision: str = "int8",
    target: str = "tensorrt",
    images: int = DEFAULT_IMAGES,
    data_dir: str | os.PathLike[str] | None = None,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    sensitivity: bool = False,
    layers: str | Sequence[str] | None = None,
    max_drop_pt: float | None = None,
    min_agreement: float | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    log: Log | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Diagnose RUN's ``precision`` variant; writes ``RUN/debug/<variant>.{json,md,png}``
    (or into ``out_dir``) and returns the result (its ``files`` name what was written)."""
    say = reporter(log)
    _args.path("run", run)
    _args.integer("--images", images)  # type and int32; the range below
    if images < 1:
        raise UsageError(f"--images must be >= 1, got {images}")
    _args.number("--threshold-db", threshold_db)
    _args.boolean("--sensitivity", sensitivity)
    # a NaN or negative target could never be met: every layer would be reported as not enough
    _args.optional_number("--max-drop", max_drop_pt, min=0, max=MAX_DROP_PT)
    if min_agreement is not None and not 0.0 <= _args.number("--min-agreement", min_agreement) <= 1:
        raise UsageError(f"--min-agreement must be within 0..1, got {min_agreement}")
    if layers and not sensitivity:
        raise UsageError(
            "--layers chooses the layers --sensitivity tries", hint="add --sensitivity"
        )
    base, path, fp32, variant = _models(Path(run), precision, target)
    candidates = keep_mod.compute_layers(fp32)
    if layers:
        candidates = keep_mod.resolve_layers(fp32, layers, precision, target, option="--layers")
    if sensitivity and precision == "int8":
        _calibration(base, path)  # fail before the work, not after it
    spec = spec_from_model(fp32, source=str(base))
    x, y = _test_images(spec, data_dir, images)
    # Every input is checked: make sure the reports can be written before the work starts.
    folder = ensure_writable_dir(
        Path(out_dir) if out_dir is not None else base.parent / DEBUG_DIR, "report folder"
    )
    from vggdeploy.artifacts.written import check_replaceable

    tag = variant_tag(precision, target)
    reports = [f"{tag}.{ext}" for ext in ("json", "md", "png")]
    check_replaceable(folder, reports, force=force, what="debug-precision")  # the user's files
    matches, unmatched = match_layers(fp32, variant)
    if not matches:
        raise ArtifactError(f"no layer of '{path.name}' corresponds to a layer of '{base.name}'")
    say(f"{path.name}: {len(matches)} layers matched to {base.name}; {images} test images")
    rows = layer_errors(fp32, variant, x, matches)
    ranking = rank_growth(rows)
    first = first_divergent(rows, threshold_db)

    from vggdeploy.debug.layers import _runner
    from vggdeploy.export.verify import runner_logits

    with _runner(fp32) as f_run, _runner(variant) as v_run:  # the models as exported
        fp32_logits = runner_logits(f_run, x)
        m = compare_logits(fp32_logits, runner_logits(v_run, x), labels=y)
    result: dict[str, Any] = {
        "variant": path.name,
        "fp32_model": str(base),
        "precision": precision,
        "target": target if precision == "int8" else None,
        "keep_fp32": recorded_keep_fp32(variant),
        "images": images,
        "threshold_db": threshold_db,
        "output": {
            "accuracy": m["out_accuracy"],
            "fp32_accuracy": m["ref_accuracy"],
            "drop_pt": 100.0 * (m["ref_accuracy"] - m["out_accuracy"]),
            "agreement": m["top1_agreement"],
            "max_abs": m["max_abs"],
        },
        "export_report": _export_report(path),
        "first_divergent": first,
        "growth_ranking": [{"layer": r["layer"], "growth": r["growth"]} for r in ranking],
        "layers": rows,
        "unmatched": unmatched,
    }
    if sensitivity:
        result["sensitivity"] = _sensitivity(
            base, path, fp32, variant, spec, x, y, fp32_logits, candidates,
            precision=precision, target=target, data_dir=data_dir,
            max_drop_pt=max_drop_pt, min_agreement=min_agreement, say=say,
        )  # fmt: skip
    result["files"] = write_reports(result, folder, tag, force=force)
    return result


def _sensitivity(
    base: Path,
    path: Path,
    fp32: Any,
    variant: Any,
    spec: Any,
    x: Any,
    y: Any,
    fp32_logits: Any,
    candidates: list[str],
    *,
    precision: str,
    target: str,
    data_dir: Any,
    max_drop_pt: float | None,
    min_agreement: float | None,
    say: Log,
) -> dict[str, Any]:
    from vggdeploy.debug.sensitivity import sensitivity
    from vggdeploy.export.judge import NOISE_IMAGES, TOLERANCES

    if max_drop_pt is None:
        tol = TOLERANCES[precision].max_accuracy_drop_pt
        max_drop_pt = max(tol, 100.0 * NOISE_IMAGES / len(y))
    already = recorded_keep_fp32(variant)
    candidates = [c for c in candidates if c not in already]
    if precision == "fp16":
        return sensitivity(
            lambda keep: keep_mod.make_fp16(fp32, [*already, *keep]),
            candidates, x, y, fp32_logits,
            max_drop_pt=max_drop_pt, min_agreement=min_agreement, log=say,
        )  # fmt: skip
    from vggdeploy.export.quantize import calibrate, calibration_images

    calib = _calibration(base, path)
    images = calibration_images(spec, data_dir, int(calib["size"]))
    blob = base.read_bytes()
    ranges, key = calibrate(
        blob, images, method=calib["method"], cache_dir=base.parent,
        input_name=spec.input.name, log=say,
    )  # fmt: skip
    try:
        out = sensitivity(
            lambda keep: keep_mod.make_int8(
                blob, ranges, target=target, method=calib["method"], keep_fp32=[*already, *keep]
            ),
            candidates, x, y, fp32_logits,
            max_drop_pt=max_drop_pt, min_agreement=min_agreement, log=say,
        )  # fmt: skip
    finally:
        ranges.unlink(missing_ok=True)
    out["calibration"] = {k: key[k] for k in ("method", "size", "cache", "reused")}
    return out


def _calibration(base: Path, path: Path) -> dict[str, Any]:
    """How the export stage calibrated ``path`` (method, size), from its report."""
    calib = (_export_report_full(path) or {}).get("calibration")
    if not isinstance(calib, dict) or "method" not in calib or "size" not in calib:
        raise ArtifactError(
            f"{report_path_for(path).name} does not say how '{path.name}' was calibrated "
            "(needed to re-quantize it for --sensitivity)",
            hint=f"export it again: vggdeploy export {base.parent} --precision int8",
        )
    return calib


def _export_report_full(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(report_path_for(path).read_text())
    except (OSError, ValueError):
        return None
