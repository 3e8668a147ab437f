"""Which layers cost a precision variant its accuracy: rebuild it with each compute layer kept in
FP32 in turn, measure test-set accuracy and top-1 agreement with FP32, rank the layers, and
recommend the smallest set to keep in FP32 (greedy, in rank order) that meets the target.

INT8 variants are re-quantized from the cached calibration ranges (``calibration-<method>.json``,
computed once by the export stage), so every candidate sees the same ranges as the export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vggdeploy.artifacts.variants import Log
from vggdeploy.metrics import compare_logits, tensor_error

Rebuild = Callable[[Sequence[str]], Any]  # keep_fp32 layers -> variant ModelProto


def evaluate(
    proto: Any, x: np.ndarray, y: np.ndarray, fp32_logits: np.ndarray, fp32_acc: float
) -> dict[str, Any]:
    """Test-set accuracy, its drop from FP32 (points) and agreement with the FP32 model."""
    from vggdeploy.debug.layers import _runner
    from vggdeploy.export.verify import runner_logits

    with _runner(proto) as runner:
        logits = runner_logits(runner, x)
    m = compare_logits(fp32_logits, logits, labels=y)
    return {
        "accuracy": m["out_accuracy"],
        "drop_pt": 100.0 * (fp32_acc - m["out_accuracy"]),
        "agreement": m["top1_agreement"],
        "max_abs": m["max_abs"],
        "logits_snr_db": tensor_error(fp32_logits, logits)["snr_db"],
    }


def sensitivity(
    rebuild: Rebuild,
    candidates: Sequence[str],
    x: np.ndarray,
    y: np.ndarray,
    fp32_logits: np.ndarray,
    *,
    max_drop_pt: float,
    min_agreement: float | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Rank ``candidates`` by what keeping each alone in FP32 recovers; recommend a set.

    The target is met when the accuracy drop is at most ``max_drop_pt`` and (if given) the
    top-1 agreement with FP32 is at least ``min_agreement``."""
    say = log or (lambda _msg: None)
    fp32_acc = float((fp32_logits.argmax(axis=1) == y).mean())

    def run(keep: Sequence[str]) -> dict[str, Any]:
        return evaluate(rebuild(keep), x, y, fp32_logits, fp32_acc)

    def meets(m: dict[str, Any]) -> bool:
        ok = m["drop_pt"] <= max_drop_pt + 1e-9
        return ok and (min_agreement is None or m["agreement"] >= min_agreement)

    baseline = run(())
    say(
        f"sensitivity: variant as exported: accuracy {100 * baseline['accuracy']:.2f}% "
        f"(drop {baseline['drop_pt']:+.2f} pt), agreement {100 * baseline['agreement']:.2f}%"
    )
    rows = []
    for i, layer in enumerate(candidates, 1):
        m = run([layer])
        m["recovered_pt"] = baseline["drop_pt"] - m["drop_pt"]
        rows.append({"layer": layer, **m})
        say(
            f"  [{i}/{len(candidates)}] {layer} in FP32: accuracy {100 * m['accuracy']:.2f}%, "
            f"agreement {100 * m['agreement']:.2f}%"
        )
    # Agreement with FP32 first (finer than accuracy on a few hundred images), then accuracy,
    # then the logits' SNR (separates layers when every top-1 already agrees).
    ranked = sorted(rows, key=lambda r: (-r["agreement"], -r["accuracy"], -r["logits_snr_db"]))
    for rank, r in enumerate(ranked, 1):
        r["rank"] = rank
    steps: list[dict[str, Any]] = []
    keep: list[str] | None = []
    if not meets(baseline):
        keep = None
        chosen: list[str] = []
        for r in ranked:
            chosen.append(r["layer"])
            m = rows_by_set(chosen, ranked) or run(chosen)
            steps.append({"keep_fp32": list(chosen), **m})
            if meets(m):
                keep = list(chosen)
                break
    return {
        "fp32_accuracy": fp32_acc,
        "n": int(len(y)),
        "target": {"max_drop_pt": max_drop_pt, "min_agreement": min_agreement},
        "baseline": baseline,
        "baseline_meets_target": meets(baseline),
        "layers": ranked,
        "greedy_steps": steps,
        "recommended_keep_fp32": keep,
    }


def rows_by_set(chosen: Sequence[str], ranked: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The single-layer measurement when ``chosen`` is one layer (already measured)."""
    if len(chosen) != 1:
        return None
    row = next(r for r in ranked if r["layer"] == chosen[0])
    return {k: row[k] for k in ("accuracy", "drop_pt", "agreement", "max_abs", "logits_snr_db")}
