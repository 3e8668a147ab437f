"""Runner.infer refuses NaN and infinities, and only them, whatever the values around them.

``all_finite`` answers ``np.isfinite(x).all()`` by a cheaper route (a sum of squares, the exact
test only where that sum is not finite); the cases are generated: float32 arrays of any size with
NaN, +-inf, the largest finite values (whose squares overflow), subnormals and zeros mixed in.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from serve_doubles import CheckpointDouble

from vggdeploy.backends.base import all_finite
from vggdeploy.errors import UsageError

F32_MAX = float(np.finfo(np.float32).max)
SPECIAL = st.sampled_from(
    [float(np.float32(v)) for v in (np.nan, np.inf, -np.inf, F32_MAX, -F32_MAX, 1e19, -1e20, 1e-45)]
    + [-0.0, 0.0]
)
VALUES = st.one_of(st.floats(width=32), SPECIAL)


@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=9), elements=VALUES)
)
def test_all_finite_is_isfinite_all(x):
    assert all_finite(x) == bool(np.isfinite(x).all())


@given(
    st.integers(0, 2 * 28 * 28 - 1),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.sampled_from([0.0, 1.0, F32_MAX]),
)
def test_all_finite_finds_one_bad_value_anywhere(where, bad, fill):
    x = np.full((2, 1, 28, 28), fill, np.float32)
    x.reshape(-1)[where] = bad
    assert not all_finite(x)
    x.reshape(-1)[where] = fill
    assert all_finite(x)


@pytest.fixture(scope="module")
def runner(_trained_run):  # read only: the session's run, not a per-test copy
    with CheckpointDouble(_trained_run) as r:
        yield r


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_infer_refuses_non_finite_and_accepts_overflowing_finite(runner, bad, layout):
    c, h, w = runner._tail
    x = np.full((3, c, h, 2 * w if layout == "strided" else w), F32_MAX, np.float32)
    x = x[..., ::2] if layout == "strided" else x  # a view: not contiguous
    x[1, 0, h // 2, w - 1] = bad
    calls = len(runner.calls)
    with pytest.raises(UsageError, match="NaN or Inf"):
        runner.infer(x)
    assert len(runner.calls) == calls  # the backend never saw it
    x[1, 0, h // 2, w - 1] = -F32_MAX  # finite again: its squares overflow, it is still taken
    assert runner.infer(x).shape == (3, runner.spec.num_classes)
