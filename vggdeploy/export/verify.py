"""Parity verification as "compare two runners": a candidate (ONNX Runtime over the model, usually
still in memory) against a reference (PyTorch over the checkpoint, or the verified FP32 ONNX
model), both through the Runner contract of :mod:`vggdeploy.backends.base`.

Used by the export stage (FP32 and every precision variant). Metrics come from
:func:`vggdeploy.metrics.compare_logits`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.errors import VerificationError
from vggdeploy.metrics import compare_logits, format_metrics
from vggdeploy.spec import ModelSpec

VERIFY_BATCHES = (1, 7)  # plus max_batch: the smallest, an odd one and the largest
LOGITS_CHUNK = 256  # images per infer() call when a runner goes over a whole image set


def verification_batches(max_batch: int) -> list[int]:
    """The batch sizes a model is verified at: 1, 7 (those not above ``max_batch``) and
    ``max_batch``."""
    return sorted({*(b for b in VERIFY_BATCHES if b <= max_batch), max_batch})


def load_test_split(data_dir: str | os.PathLike[str] | None) -> Any:
    """The test split (read once per command; DataError when missing, refused when empty)."""
    from vggdeploy.data import load_split

    split = load_split("test", data_dir)
    if len(split) == 0:
        raise VerificationError(f"the test split in '{split.root}' is empty")
    return split


def verification_inputs(spec: ModelSpec, images: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` raw test ``images`` (repeated when fewer), preprocessed by the one
    preprocessing function."""
    from vggdeploy.data import preprocess

    idx = np.arange(count) % len(images)
    return preprocess(images[idx], spec)


def runner_logits(runner: Any, x: np.ndarray, *, chunk: int = LOGITS_CHUNK) -> np.ndarray:
    """An active runner's logits for every image of ``x``, at most ``chunk`` images per call,
    fitted to the runner's batch bounds by the one batch fitter (:func:`infer_fitted`)."""
    from vggdeploy.backends.base import infer_fitted

    hi = runner.batch_bounds()[1]
    return infer_fitted(runner, x, max_batch=min(chunk, hi) if hi else chunk)


def compare_runners(
    candidate: Any,
    reference: Any,
    inputs: np.ndarray,
    *,
    batch_sizes: Sequence[int],
    atol: float | None,
    rtol: float | None,
    label: str = "ONNX",
) -> dict[str, Any]:
    """Compare two active runners at each batch size; the report dict has ``passed`` and
    per-batch metrics (see :func:`vggdeploy.metrics.compare_logits`). With ``atol`` and ``rtol``
    both None the element-wise check is skipped (INT8: judged by accuracy instead) and only
    non-finite output fails."""
    rows = []
    start = 0
    for b in batch_sizes:
        x = inputs[np.arange(start, start + b) % len(inputs)]
        start += b
        ref = runner_logits(reference, x)
        try:
            out = candidate.infer(x)  # also checks the N x num_classes output shape
        except Exception as exc:  # VggDeployError, or the backend's own exception types
            raise VerificationError(f"{label} fails to run at batch {b}: {exc}") from exc
        rows.append({"batch": int(b), **compare_logits(ref, out, atol=atol, rtol=rtol)})
    checked = atol is not None or rtol is not None
    worst = max(rows, key=lambda r: r["tolerance_excess"] if checked else r["max_abs"])
    return {
        "atol": atol,
        "rtol": rtol,
        "batches": rows,
        "max_abs": max(r["max_abs"] for r in rows),
        "cosine_min": min(r["cosine_min"] for r in rows),
        "top1_agreement": float(
            sum(r["top1_agreement"] * r["n"] for r in rows) / sum(r["n"] for r in rows)
        ),
        "passed": all(r["within_tolerance"] if checked else r["finite"] for r in rows),
        "worst_batch": worst["batch"],
    }


def raise_if_failed(verification: dict[str, Any], *, label: str, report_path: Path) -> None:
    if verification.get("passed", True):
        return
    worst = next(r for r in verification["batches"] if r["batch"] == verification["worst_batch"])
    raise VerificationError(
        f"{label} differs from PyTorch beyond tolerance at batch {worst['batch']}: "
        f"{format_metrics(worst)} (atol={verification['atol']}, rtol={verification['rtol']})",
        hint=f"details in '{report_path}'; the model was not written. Loosen --atol/--rtol "
        "only if the difference is expected",
    )
