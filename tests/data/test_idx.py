import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vggdeploy.data.idx import parse_idx, read_idx, write_idx
from vggdeploy.errors import DataError


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, compress):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    write_idx(path, arr, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    np.testing.assert_array_equal(read_idx(path), arr)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        st.sampled_from([np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"]),
        st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple),
    )
)
def test_property_round_trip(arr):
    header = struct.pack(
        ">HBB",
        0,
        {"u1": 8, "i1": 9, "i2": 11, "i4": 12, "f4": 13, "f8": 14}[arr.dtype.str[1:]],
        arr.ndim,
    ) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    out = parse_idx(data)
    np.testing.assert_array_equal(out, arr)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_property_garbage_never_crashes(blob):
    """Arbitrary bytes either parse to a consistent array or raise DataError — nothing else."""
    try:
        arr = parse_idx(blob)
    except DataError:
        return
    assert arr.size * arr.itemsize + 4 + 4 * arr.ndim == len(blob)


def _valid() -> bytes:
    return struct.pack(">HBBII", 0, 8, 2, 2, 3) + bytes(range(6))


@pytest.mark.parametrize(
    "blob,message",
    [
        (b"", "too short"),
        (b"\x01\x00\x08\x01", "magic number"),
        (b"\x00\x00\x42\x01" + b"\x00" * 8, "dtype code"),
        (b"\x00\x00\x08\x00", "dimensions"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
        (_valid()[:-1], "truncated"),
        (_valid() + b"\x00", "trailing bytes"),
    ],
)
def test_corrupt_files_are_rejected(blob, message):
    with pytest.raises(DataError, match=message):
        parse_idx(blob, source="bad.idx")


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_valid())[:-6])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope")
