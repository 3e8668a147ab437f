"""Logits comparison: the one set of parity metrics every stage reports (export, precision, bench).

``compare_logits(ref, out)`` compares a backend's logits with reference logits (PyTorch FP32) and
returns plain floats, so the result goes straight into a JSON report. The tolerance test is
``numpy.allclose``'s: ``|out - ref| <= atol + rtol * |ref|`` element-wise. ``TensorError`` /
``tensor_error`` give the same kind of figures for any tensor (relative L2 error, SNR in dB,
per-sample cosine), accumulated over batches (``vggdeploy debug-precision`` per layer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vggdeploy.errors import UsageError


def _as_logits(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise UsageError(f"{name} logits must be N x classes, got shape {arr.shape}")
    return arr


def compare_logits(
    ref: Any,
    out: Any,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    labels: Any | None = None,
) -> dict[str, Any]:
    """Parity metrics of ``out`` against ``ref`` (both N x classes).

    Keys: ``n``, ``max_abs`` (max |Δ|), ``mean_abs``, ``max_rel`` (max |Δ| / max(|ref|, 1e-6)),
    ``cosine_min`` / ``cosine_mean`` (per-row cosine similarity), ``top1_agreement`` (fraction of
    rows with the same arg-max), ``top1_mismatches`` (count). With ``atol``/``rtol``:
    ``tolerance_excess`` (max of |Δ| - (atol + rtol |ref|); <= 0 means within) and
    ``within_tolerance``. With ``labels``: ``ref_accuracy`` and ``out_accuracy``.
    """
    r, o = _as_logits(ref, "reference"), _as_logits(out, "compared")
    if r.shape != o.shape:
        raise UsageError(f"logits shapes differ: reference {r.shape}, compared {o.shape}")
    n = r.shape[0]
    result: dict[str, Any] = {"n": int(n)}
    if n == 0:
        return result
    finite = bool(np.isfinite(o).all())
    diff = np.abs(o - r)
    result["max_abs"] = float(diff.max()) if finite else float("inf")
    result["mean_abs"] = float(diff.mean()) if finite else float("inf")
    result["max_rel"] = (
        float((diff / np.maximum(np.abs(r), 1e-6)).max()) if finite else float("inf")
    )
    cos = row_cosine(r, o)
    result["cosine_min"] = float(cos.min())
    result["cosine_mean"] = float(cos.mean())
    agree = r.argmax(axis=1) == o.argmax(axis=1)
    result["top1_agreement"] = float(agree.mean())
    result["top1_mismatches"] = int((~agree).sum())
    result["finite"] = finite
    if atol is not None or rtol is not None:
        a, t = float(atol or 0.0), float(rtol or 0.0)
        excess = diff - (a + t * np.abs(r)) if finite else np.array([np.inf])
        result["atol"], result["rtol"] = a, t
        result["tolerance_excess"] = float(excess.max())
        result["within_tolerance"] = bool(finite and excess.max() <= 0.0)
    if labels is not None:
        y = np.asarray(labels).reshape(-1)
        if y.shape[0] != n:
            raise UsageError(f"{y.shape[0]} labels for {n} rows of logits")
        result["ref_accuracy"] = accuracy(r, y)
        result["out_accuracy"] = accuracy(o, y)
    return result


def row_cosine(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row (N x features, float64); 0 for a zero row, -1 if not finite."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf/nan rows give -1 below
        norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
        cos = np.where(norms > 0, (ref * out).sum(axis=1) / np.maximum(norms, 1e-30), 0.0)
    return np.where(np.isfinite(cos), cos, -1.0)


class TensorError:
    """Error of a tensor against its reference, accumulated over batches (N x ...).

    ``update(ref, out)`` per batch; ``result()`` gives ``n``, ``max_abs``, ``rel_l2``
    (||out - ref|| / ||ref|| over every element seen), ``snr_db`` (10 log10 of signal power over
    error power, i.e. -20 log10 rel_l2; inf when exact), ``cosine_min`` / ``cosine_mean`` (per
    sample, flattened) and ``finite``.
    """

    def __init__(self) -> None:
        self.n = 0
        self.max_abs = 0.0
        self.signal = 0.0  # sum of ref**2
        self.noise = 0.0  # sum of (out - ref)**2
        self.cos_sum = 0.0
        self.cos_min = 1.0
        self.finite = True

    def update(self, ref: Any, out: Any) -> None:
        r = np.asarray(ref, dtype=np.float64)
        o = np.asarray(out, dtype=np.float64)
        if r.shape != o.shape:
            raise UsageError(f"tensor shapes differ: reference {r.shape}, compared {o.shape}")
        if r.size == 0:
            return
        r2, o2 = r.reshape(len(r), -1), o.reshape(len(o), -1)
        if not np.isfinite(o2).all():
            self.finite = False
        diff = o2 - r2
        self.n += len(r2)
        self.max_abs = max(self.max_abs, float(np.abs(diff).max()))
        self.signal += float((r2 * r2).sum())
        self.noise += float((diff * diff).sum())
        cos = row_cosine(r2, o2)
        self.cos_sum += float(cos.sum())
        self.cos_min = min(self.cos_min, float(cos.min()))

    def result(self) -> dict[str, Any]:
        if self.n == 0:
            return {"n": 0}
        if not self.finite:
            inf = float("inf")
            return {
                "n": self.n,
                "max_abs": inf,
                "rel_l2": inf,
                "snr_db": -inf,
                "finite": False,
                "cosine_min": -1.0,
                "cosine_mean": -1.0,
            }
        rel = (
            float(np.sqrt(self.noise / self.signal))
            if self.signal > 0
            else (0.0 if self.noise == 0 else float("inf"))
        )
        snr = (
            float("inf")
            if self.noise == 0
            else (
                10.0 * float(np.log10(self.signal / self.noise))
                if self.signal > 0
                else -float("inf")
            )
        )
        return {
            "n": self.n,
            "max_abs": self.max_abs,
            "rel_l2": rel,
            "snr_db": snr,
            "cosine_min": self.cos_min,
            "cosine_mean": self.cos_sum / self.n,
            "finite": True,
        }


def tensor_error(ref: Any, out: Any) -> dict[str, Any]:
    """:class:`TensorError` of one pair of tensors (N x ...)."""
    acc = TensorError()
    acc.update(ref, out)
    return acc.result()


def accuracy(logits: Any, labels: Any) -> float:
    """Top-1 accuracy of ``logits`` (N x classes) against integer ``labels``."""
    arr = np.asarray(logits)
    y = np.asarray(labels).reshape(-1)
    if arr.ndim != 2 or arr.shape[0] != y.shape[0]:
        raise UsageError(f"accuracy: logits {arr.shape} do not fit {y.shape[0]} labels")
    if y.shape[0] == 0:
        return float("nan")
    return float((arr.argmax(axis=1) == y).mean())


def format_metrics(m: dict[str, Any]) -> str:
    """One line for logs: max|Δ|, cosine, top-1 agreement (and tolerance when checked)."""
    if m.get("n", 0) == 0:
        return "no samples"
    text = (
        f"max|Δ| {m['max_abs']:.3g}  cos≥{m['cosine_min']:.6f}  "
        f"top-1 agree {100 * m['top1_agreement']:.2f}% ({m['top1_mismatches']} differ)"
    )
    if "within_tolerance" in m:
        text += "  " + ("within tolerance" if m["within_tolerance"] else "OUT OF TOLERANCE")
    return text
