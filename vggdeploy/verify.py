"""Parity verification: run an ONNX model with ONNX Runtime (CPU) and compare it with PyTorch.

Used by the export stage (FP32 and every precision variant) and importable by later stages
(bench): ``ort_session``, ``onnx_logits``, ``torch_logits``, ``verify_onnx``. Metrics come from
:func:`vggdeploy.compare.compare_logits`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .compare import compare_logits, format_metrics
from .errors import ArtifactError, VerificationError
from .spec import ModelSpec


def ort_session(model: Any, *, threads: int | None = None) -> Any:
    """CPU ONNX Runtime session for a ModelProto, serialized bytes or a path."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    source = model if isinstance(model, (bytes, str)) else None
    if isinstance(model, os.PathLike):
        source = os.fspath(model)
    if source is None:
        source = model.SerializeToString()
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NotImplemented classes
        name = source if isinstance(source, str) else "the exported model"
        raise ArtifactError(
            f"ONNX Runtime cannot load {name}: {exc}",
            hint="check the opset (--opset) against the installed onnxruntime",
        ) from exc


def onnx_logits(session: Any, x: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: x[i : i + chunk]})[0] for i in range(0, len(x), chunk)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def torch_logits(model: Any, x: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    import torch

    with torch.inference_mode():
        parts = [model(torch.from_numpy(x[i : i + chunk])).numpy() for i in range(0, len(x), chunk)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def verification_inputs(
    spec: ModelSpec, data_dir: str | os.PathLike[str] | None, count: int
) -> np.ndarray:
    """The first ``count`` real test images, preprocessed by the one preprocessing function."""
    from .data import load_split, preprocess

    split = load_split("test", data_dir)
    if len(split) == 0:
        raise VerificationError(f"the test split in '{split.root}' is empty")
    idx = np.arange(count) % len(split)
    return preprocess(split.images[idx], spec)


def verify_onnx(
    onnx_model: Any,
    reference: Any,
    spec: ModelSpec,
    inputs: np.ndarray,
    *,
    batch_sizes: Sequence[int],
    atol: float | None,
    rtol: float | None,
    label: str = "ONNX",
) -> dict[str, Any]:
    """Compare ONNX Runtime with the PyTorch ``reference`` at each batch size; the report dict
    has ``passed`` and per-batch metrics (see :func:`vggdeploy.compare.compare_logits`).
    With ``atol`` and ``rtol`` both None the element-wise check is skipped (INT8: judged by
    accuracy instead) and only non-finite output fails."""
    session = onnx_model if hasattr(onnx_model, "run") else ort_session(onnx_model)
    rows = []
    start = 0
    for b in batch_sizes:
        x = inputs[np.arange(start, start + b) % len(inputs)]
        start += b
        ref = torch_logits(reference, x)
        try:
            out = session.run(None, {spec.input.name: x})[0]
        except Exception as exc:
            raise VerificationError(f"{label} fails to run at batch {b}: {exc}") from exc
        if out.shape != (b, spec.num_classes):
            raise VerificationError(
                f"{label} returned shape {out.shape} at batch {b}, expected {(b, spec.num_classes)}"
            )
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
