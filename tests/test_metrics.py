"""vggdeploy.metrics: the parity metrics every stage reports."""

from __future__ import annotations

import numpy as np
import pytest

from vggdeploy.errors import UsageError
from vggdeploy.metrics import accuracy, compare_logits, format_metrics


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


def test_tensor_error_snr_rel_l2_cosine():
    from vggdeploy.metrics import TensorError, tensor_error

    rng = np.random.default_rng(0)
    ref = rng.normal(size=(8, 3, 4, 4))
    noise = 0.01 * rng.normal(size=ref.shape)
    m = tensor_error(ref, ref + noise)
    rel = np.linalg.norm(noise) / np.linalg.norm(ref)
    assert m["rel_l2"] == pytest.approx(rel)
    assert m["snr_db"] == pytest.approx(-20 * np.log10(rel))
    assert m["max_abs"] == pytest.approx(np.abs(noise).max())
    assert 0.999 < m["cosine_min"] <= m["cosine_mean"] <= 1.0
    acc = TensorError()  # accumulating over batches gives the one-shot answer
    for i in range(0, 8, 3):
        acc.update(ref[i : i + 3], (ref + noise)[i : i + 3])
    chunked = acc.result()
    assert chunked["n"] == 8
    for key in ("rel_l2", "snr_db", "max_abs", "cosine_min", "cosine_mean"):
        assert chunked[key] == pytest.approx(m[key])
    assert tensor_error(ref, ref)["snr_db"] == float("inf")
    assert tensor_error(ref, -ref)["cosine_min"] == pytest.approx(-1.0)


def test_tensor_error_non_finite_and_shapes():
    from vggdeploy.metrics import tensor_error

    out = np.ones((2, 3))
    out[1, 2] = np.inf
    m = tensor_error(np.ones((2, 3)), out)
    assert m["finite"] is False and m["snr_db"] == -float("inf")
    with pytest.raises(UsageError):
        tensor_error(np.zeros((2, 3)), np.zeros((2, 4)))
