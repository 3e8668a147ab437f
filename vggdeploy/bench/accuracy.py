"""Accuracy of a backend's logits against labels and against the PyTorch FP32 reference logits."""

from __future__ import annotations

import numpy as np


def logit_metrics(
    logits: np.ndarray, labels: np.ndarray, reference: np.ndarray
) -> dict[str, float]:
    """top-1 accuracy (%), agreement of argmax with the reference (%), max |Δ| of logits, and the
    mean / min per-image cosine similarity of logit vectors."""
    logits = np.asarray(logits, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if logits.shape != reference.shape or logits.shape[0] != len(labels):
        raise ValueError(
            f"shapes differ: logits {logits.shape}, reference {reference.shape}, "
            f"labels {np.shape(labels)}"
        )
    pred, ref_pred = logits.argmax(1), reference.argmax(1)
    num = (logits * reference).sum(1)
    den = np.linalg.norm(logits, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)
    return {
        "n": int(len(labels)),
        "top1": float((pred == labels).mean() * 100),
        "agreement": float((pred == ref_pred).mean() * 100),
        "max_abs_diff": float(np.abs(logits - reference).max()),
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
    }


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]
