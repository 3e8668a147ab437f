"""Accuracy of a backend's logits against labels and against the PyTorch FP32 reference logits."""

from __future__ import annotations

import numpy as np

from vggdeploy.metrics import compare_logits


def logit_metrics(
    logits: np.ndarray, labels: np.ndarray, reference: np.ndarray
) -> dict[str, float]:
    """Bench's accuracy columns, from the shared parity metrics (:func:`compare_logits`): top-1
    accuracy (%), agreement of argmax with the reference (%), max |Δ| of logits, and the mean /
    min per-image cosine similarity of logit vectors."""
    m = compare_logits(reference, logits, labels=labels)
    return {
        "n": m["n"],
        "top1": 100.0 * m["out_accuracy"],
        "agreement": 100.0 * m["top1_agreement"],
        "max_abs_diff": m["max_abs"],
        "cosine_mean": m["cosine_mean"],
        "cosine_min": m["cosine_min"],
    }


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]
