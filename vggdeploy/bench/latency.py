"""Timing one runner on one batch: wall-clock per call, summary statistics, GPU time split.

Every runner's ``infer()`` returns host (NumPy) logits, so a call cannot return before the device
finished: ``time.perf_counter()`` around it measures a complete, synchronised inference, including
host-to-device and device-to-host copies. On GPU the split into those parts comes from CUDA events
recorded inside the runner (``_infer_split`` hook), measured in separate calls after the timed ones
so the events do not perturb them.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)
STAT_KEYS = ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")


def summarize(times_s: list[float] | np.ndarray) -> dict[str, float]:
    """mean, std (sample), min, p50, p90, p95, p99, max in milliseconds.

    Percentiles use linear interpolation between order statistics (NumPy's default), so p99 of
    fewer than 100 samples is interpolated, not a measured call; ``n`` says how many there were.
    """
    t = np.asarray(times_s, dtype=np.float64) * 1e3
    if t.size == 0:
        raise ValueError("no timings to summarize")
    pct = np.percentile(t, PERCENTILES)
    out = {
        "mean": float(t.mean()),
        "std": float(t.std(ddof=1)) if t.size > 1 else 0.0,
        "min": float(t.min()),
        "max": float(t.max()),
        "n": int(t.size),
    }
    out.update({f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)})
    return out


def time_calls(
    runner: Any,
    batch: np.ndarray,
    *,
    iters: int | None = None,
    duration_s: float | None = None,
    min_iters: int = 3,
) -> list[float]:
    """Seconds per ``runner.infer(batch)``: exactly ``iters`` calls, or calls until ``duration_s``
    has passed (at least ``min_iters``). Warm-up is the caller's job."""
    if iters is None and duration_s is None:
        raise ValueError("give iters or duration_s")
    infer = runner.infer
    clock = time.perf_counter
    times: list[float] = []
    if iters is not None:
        for _ in range(iters):
            t0 = clock()
            infer(batch)
            times.append(clock() - t0)
        return times
    deadline = clock() + float(duration_s)  # type: ignore[arg-type]
    while len(times) < min_iters or clock() < deadline:
        t0 = clock()
        infer(batch)
        times.append(clock() - t0)
    return times


def gpu_split(runner: Any, batch: np.ndarray, calls: int = 10) -> dict[str, float] | None:
    """Median host-to-device / compute / device-to-host ms, if the runner can measure them."""
    hook = getattr(runner, "_infer_split", None)
    if hook is None:
        return None
    parts: dict[str, list[float]] = {}
    for _ in range(calls):
        _, split = hook(batch)
        for key, ms in split.items():
            parts.setdefault(key, []).append(float(ms))
    return {k: float(np.median(v)) for k, v in parts.items()}


def split_iters(total: int, rounds: int) -> list[int]:
    """``total`` calls spread over ``rounds`` (each round at least one call)."""
    rounds = max(1, rounds)
    base = max(1, math.ceil(total / rounds))
    return [base] * rounds
