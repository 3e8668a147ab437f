"""A validating reader for the IDX format (MNIST / Fashion-MNIST), gzip-compressed or raw.

Layout: 2 zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
dimension, then the data (big-endian). Every field is checked against the file size.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from vggdeploy.errors import DataError

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_DIMS = 8


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The decompressed content of ``path`` (gzip detected by its magic, not its name)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"IDX file not found: '{p}'") from exc
    except OSError as exc:
        raise DataError(f"cannot read IDX file '{p}': {exc.strerror or exc}") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"'{p}' is a corrupt or truncated gzip file ({exc})",
                hint="delete it and install / download the dataset again",
            ) from exc
    return raw


def parse_idx(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    def bad(msg: str) -> DataError:
        return DataError(
            f"'{source}' is not a valid IDX file: {msg}",
            hint="delete it and install / download the dataset again",
        )

    if len(data) < 4:
        raise bad(f"only {len(data)} bytes, too short for the 4-byte header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise bad(f"magic number starts with {data[:2].hex()}, expected 0000")
    if code not in _DTYPES:
        raise bad(f"unknown dtype code 0x{code:02x}")
    if not 1 <= ndim <= MAX_DIMS:
        raise bad(f"{ndim} dimensions (expected 1..{MAX_DIMS})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise bad(f"truncated header ({len(data)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = dtype.itemsize * int(np.prod(dims, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise bad(f"{what}: dimensions {dims} need {expected} data bytes, found {actual}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    return parse_idx(read_bytes(path), source=str(path))


def write_idx(path: str | os.PathLike[str], arr: np.ndarray, *, compress: bool = False) -> None:
    """Write ``arr`` as IDX (used by tests and tools; atomic)."""
    from vggdeploy._io import write_bytes

    inv = {v.newbyteorder("="): k for k, v in _DTYPES.items()}
    dt = np.dtype(arr.dtype).newbyteorder("=")
    if dt not in inv:
        raise ValueError(f"dtype {arr.dtype} has no IDX code")
    code = inv[dt]
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr).astype(_DTYPES[code], copy=False).tobytes()
    write_bytes(path, gzip.compress(payload, mtime=0) if compress else payload)
