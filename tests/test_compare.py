"""vggdeploy.compare: the parity metrics every stage reports."""

from __future__ import annotations

import numpy as np
import pytest

from vggdeploy.compare import accuracy, compare_logits, format_metrics
from vggdeploy.errors import UsageError


def test_identical_logits():
    ref = np.random.default_rng(0).normal(size=(20, 10)).astype(np.float32)
    m = compare_logits(ref, ref.copy(), atol=0, rtol=0)
    assert m["max_abs"] == 0 and m["top1_agreement"] == 1.0 and m["within_tolerance"]
    assert m["cosine_min"] == pytest.approx(1.0)


def test_differences_and_tolerance():
    ref = np.zeros((4, 3))
    ref[:, 0] = 1.0
    out = ref.copy()
    out[2] = [0.0, 2.0, 0.0]  # flips the arg-max of one row
    m = compare_logits(ref, out, atol=0.5, rtol=0.0, labels=[0, 0, 0, 1])
    assert m["max_abs"] == 2.0 and m["top1_mismatches"] == 1
    assert m["top1_agreement"] == 0.75
    assert m["within_tolerance"] is False and m["tolerance_excess"] == pytest.approx(1.5)
    assert m["ref_accuracy"] == 0.75 and m["out_accuracy"] == 0.5
    assert "OUT OF TOLERANCE" in format_metrics(m)
    assert compare_logits(ref, ref + 1e-5, atol=1e-4, rtol=0)["within_tolerance"]


def test_non_finite_output_is_never_within_tolerance():
    ref = np.ones((2, 3))
    out = ref.copy()
    out[0, 0] = np.nan
    m = compare_logits(ref, out, atol=1e9, rtol=1e9)
    assert m["finite"] is False and m["within_tolerance"] is False


def test_shape_errors():
    with pytest.raises(UsageError):
        compare_logits(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(UsageError):
        compare_logits(np.zeros(3), np.zeros(3))
    with pytest.raises(UsageError):
        accuracy(np.zeros((2, 3)), [0])
