"""Build an OpenVINO IR (``NAME.xml`` + ``NAME.bin``) from a run's ``model.onnx``, judged like
every other precision variant.

* ``fp32``: ``model.onnx`` through OpenVINO's ONNX frontend (``Core.read_model``, what
  ``convert_model`` runs, minus its telemetry), run with ``inference_precision=f32``.
* ``bf16``: the same graph with FP32 weights, run with ``inference_precision=bf16`` (refused on a
  CPU without native BF16: there it would be emulated and slow).
* ``int8``: NNCF post-training quantization (``nncf.quantize`` over ``nncf.Dataset``) calibrated on
  the TRAIN split with the export stage's calibration size (``quantize.DEFAULT_CALIB_SIZE``),
  or (``int8_source="qdq"``) the export stage's Q/DQ ``model.int8.onnx`` converted as it is.

Every IR is judged before it is written, through the Runner contract, by the export stage's own
rule (:func:`vggdeploy.export.judge.assess_runner`): parity with PyTorch at the verification
batches and test-set accuracy against the FP32 ONNX model within ``TOLERANCES`` (FP32: the FP32
export tolerances). A loss beyond the tolerance is refused (exit 7) and nothing is written. The
ModelSpec, what the IR was made from and the verdict go into the IR's runtime info.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from vggdeploy._io import Log, ensure_writable_dir, reporter, sha256_file, staged_files
from vggdeploy._version import __version__
from vggdeploy.artifacts.variants import split_variant, variant_path
from vggdeploy.backends.cpu_features import cpu_features
from vggdeploy.backends.openvino import (
    INFERENCE_PRECISION,
    IR_FORMAT,
    IR_VERSION,
    RT_BUILD,
    RT_SPEC,
    import_openvino,
)
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.errors import BackendUnavailableError, UsageError, VerificationError
from vggdeploy.runlock import holds_source_lock

IR_PRECISIONS = ("fp32", "bf16", "int8")
INT8_SOURCES = ("nncf", "qdq")  # NNCF on model.onnx, or the export stage's Q/DQ model.int8.onnx
#: NNCF's settings, recorded in the IR (its defaults: symmetric INT8, fast bias correction)
NNCF_SETTINGS = {"preset": "performance", "fast_bias_correction": True}


def default_ir_path(run: Path, precision: str, int8_source: str = "nncf") -> Path:
    """RUN/openvino/model.<precision>[-qdq].xml (bench discovers RUN/openvino/*.xml)."""
    tag = precision + ("-qdq" if precision == "int8" and int8_source == "qdq" else "")
    return run / "openvino" / f"model.{tag}.xml"


def _int8_inference_precision() -> str:
    """What an INT8 IR's non-quantized layers run in: BF16 where the CPU has it natively
    (OpenVINO's own default there), else FP32. Judged and recorded with the IR."""
    return "bf16" if cpu_features().native_bf16 else "f32"


@holds_source_lock("build-engine")  # the run folder it reads: no export rewrites it meanwhile
def build_openvino(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    precision: str = "fp32",
    int8_source: str = "nncf",
    calib_size: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    limit_test: int | None = None,
    verify: bool = True,
    log: Log | None = None,
) -> Path:
    """Convert RUN/model.onnx (fresh: made from RUN's checkpoint) to an IR of ``precision``,
    judge it, and write ``out`` (+ its .bin); returns the .xml path."""
    from vggdeploy.export.quantize import DEFAULT_CALIB_SIZE

    say = reporter(log)
    run = Path(run)
    if run.is_file() and split_variant(run) is not None:  # MODEL.onnx given: its run folder
        run = run.parent
    if precision not in IR_PRECISIONS:
        raise UsageError(f"unknown openvino precision {precision!r}", hint=f"use {IR_PRECISIONS}")
    if int8_source not in INT8_SOURCES:
        raise UsageError(f"unknown --int8-source {int8_source!r}", hint=f"use {INT8_SOURCES}")
    if int8_source != "nncf" and precision != "int8":
        raise UsageError("--int8-source applies to --precision int8")
    calib_size = DEFAULT_CALIB_SIZE if calib_size is None else calib_size
    if not isinstance(calib_size, int) or calib_size < 1:
        raise UsageError(f"--calib-size must be >= 1, got {calib_size}")
    if limit_test is not None and limit_test < 1:
        raise UsageError(f"--limit-test must be >= 1, got {limit_test}")
    refusal = cpu_features().bf16_refusal() if precision == "bf16" else None
    if refusal:
        raise BackendUnavailableError(
            f"no BF16 OpenVINO IR on this CPU: {refusal}",
            hint="build --precision fp32 or int8 here, or build BF16 on a CPU with AMX/AVX512_BF16",
        )
    base = run / "model.onnx"
    source = variant_path(base, "int8") if int8_source == "qdq" else base
    target = Path(out) if out is not None else default_ir_path(run, precision, int8_source)
    if target.suffix.lower() not in BACKENDS["openvino"].suffixes:
        raise UsageError(f"output '{target}' must end in .xml (OpenVINO IR; NAME.bin is beside it)")
    _check_sources(run, base, source)
    ov = import_openvino("building an OpenVINO IR")
    ensure_writable_dir(target.parent, "IR folder")  # before the calibration and the judging
    t0 = time.perf_counter()
    from vggdeploy.artifacts.onnx_meta import read_onnx_spec

    spec = read_onnx_spec(source)
    say(f"converting {source.name} with openvino {ov.__version__}")
    # Core.read_model runs the same ONNX frontend as openvino.convert_model, without the model
    # converter's usage telemetry: that forks processes which try to reach the network and
    # inherit this process's descriptors (the run lock stayed held after the build).
    model = ov.Core().read_model(str(source))
    facts: dict[str, Any] = {
        "format": IR_FORMAT,
        "version": IR_VERSION,
        "precision": precision,
        "inference_precision": INFERENCE_PRECISION.get(precision) or _int8_inference_precision(),
        "source_onnx": source.name,
        "source_onnx_sha256": sha256_file(source),
        "checkpoint_sha256": _onnx_checkpoint_sha(source),
        "openvino": ov.__version__,
        "vggdeploy": __version__,
    }
    if precision == "int8":
        facts["int8_source"] = int8_source
        if int8_source == "nncf":
            model = _nncf_int8(model, spec, data_dir, calib_size, say)
            facts["calibration"] = {"split": "train", "size": calib_size, **NNCF_SETTINGS}
            facts["nncf"] = _version("nncf")
    facts["timings"] = {"convert_s": time.perf_counter() - t0}
    model.set_rt_info(spec.to_json(), list(RT_SPEC))
    with tempfile.TemporaryDirectory(prefix="vggdeploy-ir.") as work:
        draft = Path(work) / target.name
        _save(ov, model, facts, draft)
        if verify:
            facts["verification"] = _judge(draft, run, spec, precision, data_dir, limit_test, say)
            facts["verified_max_batch"] = max(r["batch"] for r in facts["verification"]["batches"])
        else:
            facts["verification"] = None
            say("not verified (--no-verify)")
        with staged_files(target.parent) as stage:
            _save(ov, model, facts, stage / target.name)
    say(f"wrote {target} + {target.with_suffix('.bin').name} in {time.perf_counter() - t0:.1f} s")
    return target


def _check_sources(run: Path, base: Path, source: Path) -> None:
    """model.onnx (and the Q/DQ source) exist and are made from RUN's checkpoint."""
    from vggdeploy.backends.freshness import check_fresh

    for path in dict.fromkeys((base, source)):
        if not path.is_file():
            raise UsageError(
                f"'{path}' does not exist: the IR is converted from it",
                hint=f"export it first: vggdeploy export {run}"
                + (" --precision int8" if path != base else ""),
            )
        check_fresh(path, run=run)


def _onnx_checkpoint_sha(path: Path) -> str | None:
    from vggdeploy.artifacts.onnx_meta import META_CHECKPOINT, load_onnx

    props = {p.key: p.value for p in load_onnx(path, load_external_data=False).metadata_props}
    return props.get(META_CHECKPOINT)


def _version(name: str) -> str | None:
    from importlib import metadata

    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(name)
    return None


def _save(ov: Any, model: Any, facts: dict[str, Any], path: Path) -> None:
    model.set_rt_info(json.dumps(facts, sort_keys=True), list(RT_BUILD))
    # compress_to_fp16=False: FP32 weights stay FP32 (the BF16 IR rounds them at compile time)
    ov.save_model(model, str(path), compress_to_fp16=False)


def _nncf_int8(model: Any, spec: Any, data_dir: Any, calib_size: int, say: Log) -> Any:
    from vggdeploy._optional import require
    from vggdeploy.export.quantize import calibration_images

    # NNCF sends usage telemetry from forked processes unless it runs "in CI" (read at import)
    os.environ.setdefault("NNCF_CI", "1")
    nncf = require("nncf", extra="openvino", purpose="INT8 OpenVINO IRs (NNCF)")
    calib = calibration_images(spec, data_dir, calib_size)  # TRAIN split, fixed seed
    say(f"NNCF INT8: calibrating on {len(calib)} train images")
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    return nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(calib),
        fast_bias_correction=NNCF_SETTINGS["fast_bias_correction"],
    )


def _judge(
    draft: Path, run: Path, spec: Any, precision: str, data_dir: Any, limit: int | None, say: Log
) -> dict[str, Any]:
    """The IR at ``draft`` through its runner, judged by the export stage's rule."""
    from vggdeploy.artifacts.checkpoint import read_checkpoint
    from vggdeploy.backends.base import open_runner
    from vggdeploy.export.judge import TOLERANCES, Tolerance, assess_runner, fp32_reference
    from vggdeploy.export.onnx import DEFAULT_VERIFIED_MAX_BATCH, FP32_ATOL, FP32_RTOL
    from vggdeploy.export.verify import load_test_split

    tol = TOLERANCES.get(precision) or Tolerance(FP32_ATOL, FP32_RTOL, 0.0)
    ckpt = read_checkpoint(run, expect=spec)
    test = load_test_split(data_dir)
    blob = (run / "model.onnx").read_bytes()
    with contextlib.ExitStack() as stack:
        check = fp32_reference(
            stack,
            blob,
            ckpt.model,
            spec,
            test,
            max_batch=DEFAULT_VERIFIED_MAX_BATCH,
            limit=limit,
            log=say,
        )
        with open_runner("openvino", draft, hint="latency") as runner:
            verdict = assess_runner(runner, label=draft.name, tol=tol, check=check)
    ts = verdict["test_set"]
    say(
        f"  test set ({ts['n']}): accuracy {100 * ts['out_accuracy']:.2f}% "
        f"(FP32 {100 * ts['fp32_onnx_accuracy']:.2f}%, drop {ts['accuracy_drop_pt']:+.2f} pt, "
        f"allowed {ts['max_accuracy_drop_pt']:.2f}), agreement {100 * ts['top1_agreement']:.2f}%"
    )
    verdict["tolerance"] = tol.__dict__
    if not verdict["passed"]:
        why = verdict.get("failure") or "logits differ from PyTorch beyond the tolerance"
        raise VerificationError(
            f"{draft.name}: {why}; the IR was not written",
            hint="try --int8-source qdq or a larger --calib-size"
            if precision == "int8"
            else "report it: the OpenVINO conversion changed the model",
        )
    return verdict


__all__ = ["INT8_SOURCES", "IR_PRECISIONS", "build_openvino", "default_ir_path"]
