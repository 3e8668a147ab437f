"""Judging and writing one precision variant: parity with PyTorch at the verification batches and
test-set accuracy against the FP32 ONNX model, each through the Runner contract (an ONNX Runtime
runner over the in-memory variant against a PyTorch runner over the checkpoint already read).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy._io import sha256_bytes, write_bytes, write_json
from vggdeploy.artifacts.onnx_meta import META_PRECISION, META_SOURCE_ONNX
from vggdeploy.artifacts.run_folder import report_path_for
from vggdeploy.artifacts.variants import Log
from vggdeploy.backends.base import Runner, open_runner
from vggdeploy.errors import VerificationError
from vggdeploy.export.onnx import ExportResult, annotate, check_onnx
from vggdeploy.export.verify import (
    compare_runners,
    raise_if_failed,
    runner_logits,
    verification_batches,
    verification_inputs,
)
from vggdeploy.metrics import accuracy, compare_logits, format_metrics
from vggdeploy.spec import ModelSpec


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


@dataclass(frozen=True)
class VariantCheck:
    """What every variant is judged against, computed once per command."""

    reference: Runner  # PyTorch over the checkpoint (active)
    inputs: np.ndarray  # verification images, preprocessed
    batches: list[int]
    test_x: np.ndarray
    test_y: np.ndarray
    fp32_logits: np.ndarray  # the FP32 ONNX model on test_x
    fp32_accuracy: float

    @property
    def n_test(self) -> int:
        return len(self.test_x)


def fp32_reference(
    stack: contextlib.ExitStack,
    fp32: bytes,
    model: Any,
    spec: ModelSpec,
    test: Any,
    *,
    max_batch: int,
    limit: int | None,
    log: Log,
) -> VariantCheck:
    """The PyTorch reference runner (closed with ``stack``) and the FP32 ONNX model's test-set
    logits on the test split ``test`` (already loaded; its first ``limit`` images)."""
    from vggdeploy.data import preprocess

    batches = verification_batches(max_batch)
    reference = stack.enter_context(open_runner("torch", (model, spec)))
    n_test = len(test) if limit is None else min(limit, len(test))
    test_x = preprocess(test.images[:n_test], spec)
    test_y = test.labels[:n_test]
    t0 = time.perf_counter()
    # The FP32 ONNX model is the test-set reference: it was verified against PyTorch, and a
    # full PyTorch pass costs 3-5x more CPU time than ONNX Runtime.
    with open_runner("onnxruntime", fp32) as runner:
        fp32_logits = runner_logits(runner, test_x)
    fp32_acc = accuracy(fp32_logits, test_y)
    log(
        f"test set ({len(test_x)} images): FP32 ONNX accuracy {100 * fp32_acc:.2f}% "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return VariantCheck(
        reference=reference,
        inputs=verification_inputs(spec, test.images, sum(batches)),
        batches=batches,
        test_x=test_x,
        test_y=test_y,
        fp32_logits=fp32_logits,
        fp32_accuracy=fp32_acc,
    )


def assess(blob: bytes, *, label: str, tol: Tolerance, check: VariantCheck) -> dict[str, Any]:
    """Per-batch parity with PyTorch, and full test-set accuracy and top-1 agreement against the
    FP32 ONNX model (which is verified against PyTorch)."""
    t0 = time.perf_counter()
    with open_runner("onnxruntime", blob) as candidate:
        verification = compare_runners(
            candidate,
            check.reference,
            check.inputs,
            batch_sizes=check.batches,
            atol=tol.atol,
            rtol=tol.rtol,
            label=label,
        )
        logits = runner_logits(candidate, check.test_x)
    fp32_acc = check.fp32_accuracy
    test_set = compare_logits(check.fp32_logits, logits, labels=check.test_y)  # vs FP32 ONNX
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


def write_variant(
    proto: Any,
    path: Path,
    report: dict[str, Any],
    fp32: Any,
    spec: ModelSpec,
    check: VariantCheck | None,
    *,
    precision: str,
    tag: str,
    source_sha256: str,
    log: Log,
) -> ExportResult:
    """Annotate (the FP32 model's provenance, this ``tag``, ``source_sha256``: the sha256 of the
    model.onnx it is derived from, so a re-exported model.onnx makes it stale), check, judge
    (unless ``check`` is None: --no-verify) and write a variant; a failing variant leaves only
    its report."""
    annotate(proto, spec, **_meta(fp32, tag), **{META_SOURCE_ONNX: source_sha256})
    proto = check_onnx(proto, spec, what=path.name)
    blob = proto.SerializeToString()
    verification = None
    if check is not None:
        verification = assess(blob, label=path.name, tol=TOLERANCES[precision], check=check)
    report_path = report_path_for(path)
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
                        if precision == "int8"
                        else ""
                    ),
                )
            raise_if_failed(verification, label=path.name, report_path=report_path)
    report["sha256"] = sha256_bytes(blob)
    write_bytes(path, blob)
    write_json(report_path, {**report, "written": True})
    log(f"wrote {path} ({len(blob) / 1e6:.1f} MB) and {report_path.name}")
    return ExportResult(path=path, report_path=report_path, report=report)


def _meta(fp32: Any, tag: str) -> dict[str, str]:
    props = {p.key: p.value for p in fp32.metadata_props if p.key.startswith("vggdeploy.")}
    props.pop("vggdeploy.modelspec", None)
    props[META_PRECISION] = tag
    return props
