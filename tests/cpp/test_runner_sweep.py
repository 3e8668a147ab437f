"""Issue 19, class 8: the C++ runners' integer options and input headers, swept from tables.

Contract (cpp/README.md "Exit codes"): the exit code is one of the documented ones, never a
signal; exit 0 only with the output written (N rows of logits), any other code with no output
and no temporary file left. The sweep runs the runners' shared main (runner_main: parsing,
.npy/raw reading, batching, writing) through ``vgg_common_selftest --run`` with a stand-in model,
so it needs neither libtorch nor a package and takes seconds; the cases that get past parsing also
run against the real ``vgg_aoti`` with the session's tiny package.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

DOCUMENTED = {0, 2, 4, 6, 8}  # cpp/README.md "Exit codes"; 1 is an internal error, never expected
CLASSES = 10  # the stand-in's logits per row (the tiny package: vgg-mini, 10 classes too)
GOOD = np.arange(2 * 1 * 32 * 32, dtype=np.float32).reshape(2, 1, 32, 32) / 2048


def npy_bytes(
    descr: str = "'<f4'",
    fortran: str = "False",
    shape: str = "(2, 1, 32, 32)",
    data: bytes = GOOD.tobytes(),
    *,
    version: int = 1,
    header: str | None = None,
    header_len: int | None = None,
    magic: bytes = b"\x93NUMPY",
) -> bytes:
    """A .npy file with any header text (the fields given raw, as they appear in the dict)."""
    text = (
        header
        if header is not None
        else (f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}")
    )
    body = (text + " " * ((64 - (len(text) + 12) % 64) % 64) + "\n").encode("utf-8")
    n = len(body) if header_len is None else header_len
    size = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return magic + bytes([version, 0]) + size + body + data


WRAPS_TO_ZERO = "4611686018427387904, 1, 32, 32"  # 2**62 * 1024 = 2**72: 0 modulo 2**64
NPY = {  # name -> (file bytes, expected exit)
    "valid": (npy_bytes(), 0),
    "valid-v2": (npy_bytes(version=2), 0),
    "valid-v3": (npy_bytes(version=3), 0),
    "empty-file": (b"", 2),
    "magic-only": (b"\x93NUMPY", 2),
    "bad-magic": (npy_bytes(magic=b"\x93NUMPX"), 2),
    "version-0": (npy_bytes(version=0), 2),
    "version-4": (npy_bytes(version=4), 2),
    "header-len-past-end": (npy_bytes(header_len=60000, data=b""), 2),
    "header-len-u32-max": (npy_bytes(version=2, header_len=2**32 - 1, data=b""), 2),
    "descr-f8": (npy_bytes("'<f8'", data=GOOD.astype(np.float64).tobytes()), 2),
    "descr-big-endian": (npy_bytes("'>f4'"), 2),
    "descr-int32": (npy_bytes("'<i4'"), 2),
    "descr-unquoted": (npy_bytes("f4"), 2),
    "descr-missing": (npy_bytes(header="{'fortran_order': False, 'shape': (2, 1, 32, 32), }"), 2),
    "fortran-true": (npy_bytes(fortran="True"), 2),
    "fortran-missing": (npy_bytes(header="{'descr': '<f4', 'shape': (2, 1, 32, 32), }"), 2),
    "shape-missing": (npy_bytes(header="{'descr': '<f4', 'fortran_order': False, }"), 2),
    "shape-unclosed": (npy_bytes(shape="(2, 1, 32, 32"), 2),
    "shape-scalar": (npy_bytes(shape="()", data=b"\0" * 4), 2),
    "shape-3d": (npy_bytes(shape="(2, 32, 32)"), 2),
    "shape-5d": (npy_bytes(shape="(1, 2, 1, 32, 32)"), 2),
    "shape-negative": (npy_bytes(shape="(-2, 1, 32, 32)"), 2),
    "shape-zero-rows": (npy_bytes(shape="(0, 1, 32, 32)", data=b""), 2),
    "shape-zero-channels": (npy_bytes(shape="(2, 0, 32, 32)", data=b""), 2),
    "shape-not-a-number": (npy_bytes(shape="(2, 1, 32, x)"), 2),
    "shape-float": (npy_bytes(shape="(2.0, 1, 32, 32)"), 2),
    "shape-plus": (npy_bytes(shape="(+2, 1, 32, 32)"), 2),
    "shape-unicode-digit": (npy_bytes(shape="(٢, 1, 32, 32)"), 2),
    "shape-2**63": (npy_bytes(shape="(9223372036854775808, 1, 32, 32)", data=b""), 2),
    "shape-product-wraps-to-0": (npy_bytes(shape=f"({WRAPS_TO_ZERO})", data=b""), 2),
    "shape-product-overflows": (npy_bytes(shape="(3037000500, 3037000500, 1, 1)", data=b""), 2),
    "shape-bytes-overflow": (npy_bytes(shape="(2305843009213693952, 1, 1, 1)", data=b""), 2),
    "data-short": (npy_bytes(data=GOOD.tobytes()[:-1]), 2),
    "data-long": (npy_bytes(data=GOOD.tobytes() + b"\0"), 2),
    "data-nan": (npy_bytes(data=np.full_like(GOOD, np.nan).tobytes()), 2),
    "header-truncated": (npy_bytes()[:40], 2),
}

RAW = {  # name -> (file bytes, --shape, expected exit)
    "valid": (GOOD.tobytes(), "2,1,32,32", 0),
    "short": (GOOD.tobytes()[:-4], "2,1,32,32", 2),
    "long": (GOOD.tobytes() + b"\0" * 4, "2,1,32,32", 2),
    "empty-product-wraps-to-0": (b"", WRAPS_TO_ZERO.replace(" ", ""), 2),
    "empty-huge": (b"", "2147483647,2147483647,2147483647,2147483647", 2),
    "no-shape": (GOOD.tobytes(), None, 2),
    "shape-3d": (GOOD.tobytes(), "2,32,32", 2),
    "shape-zero": (b"", "0,1,32,32", 2),
    "shape-negative": (GOOD.tobytes(), "-2,1,32,32", 2),
    "shape-int32-plus-1": (b"", "2147483648,1,1,1", 2),
    "shape-empty-item": (GOOD.tobytes(), "2,,32,32", 2),
    "shape-spaces": (GOOD.tobytes(), "2, 1, 32, 32", 2),
}

# Integer options: every value x every option. In [min, 2**31-1] parses; the rest is exit 2.
INT_OPTIONS = {"--batch": 1, "--warmup": 0, "--iters": 1}  # option -> minimum
INT_VALUES = [
    "-1", "0", "1", "2", "2147483647", "2147483648", "4294967296", "4294967297",
    "18446744073709551616", "9" * 400, "-9223372036854775809", "1e3", "2.5", " 7", "7 ", "+1",
    "0x10", "010", "1_000", "١٢", "５", "", "nan", "-0",
]  # fmt: skip


def expected_int(option: str, text: str) -> int:
    """Exit for ``option text`` with a valid input: 0 if it parses (in range), else 2."""
    if not (text.isascii() and text.lstrip("-").isdigit() and text.count("-") <= 1):
        return 2
    if text.startswith("-") and text != "-0":
        return 2
    return 0 if INT_OPTIONS[option] <= int(text) <= 2**31 - 1 else 2


@dataclass
class Run:
    code: int
    stderr: str
    output: Path


def run_case(exe: list[str], tmp: Path, args: list[str], model: Path) -> Run:
    out = tmp / "y.npy"
    proc = subprocess.run(
        [*exe, str(model), *args, "--output", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stderr, out)


def check_contract(r: Run, expected: int, rows: int, what: str) -> None:
    assert r.code >= 0, f"{what}: killed by signal {-r.code}\n{r.stderr}"
    assert r.code in DOCUMENTED, f"{what}: exit {r.code} is not documented\n{r.stderr}"
    assert r.code == expected, f"{what}: exit {r.code}, expected {expected}\n{r.stderr}"
    assert not list(r.output.parent.glob("*.tmp")), f"{what}: temporary file left"
    if r.code == 0:
        logits = np.load(r.output)
        assert logits.shape[0] == rows and logits.ndim == 2, f"{what}: output {logits.shape}"
    else:
        assert not r.output.exists(), f"{what}: exit {r.code} but an output was written"
        assert "error:" in r.stderr, f"{what}: no error message\n{r.stderr}"


@pytest.fixture(scope="module")
def stand_in(built: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    model = tmp_path_factory.mktemp("stand_in") / "model.bin"
    model.write_bytes(b"stand-in")
    return [str(built / "vgg_common_selftest"), "--run"], model


def _npy_args(tmp: Path, data: bytes) -> list[str]:
    (tmp / "x.npy").write_bytes(data)
    return ["--input", str(tmp / "x.npy")]


def _raw_args(tmp: Path, data: bytes, shape: str | None) -> list[str]:
    (tmp / "x.raw").write_bytes(data)
    return ["--input", str(tmp / "x.raw"), *(["--shape", shape] if shape is not None else [])]


def _rows(expected: int) -> int:
    return 2 if expected == 0 else 0


@pytest.mark.parametrize("name", sorted(NPY))
def test_npy_headers(stand_in, tmp_path: Path, name: str) -> None:
    data, expected = NPY[name]
    exe, model = stand_in
    r = run_case(exe, tmp_path, _npy_args(tmp_path, data), model)
    check_contract(r, expected, _rows(expected), f"npy {name}")


@pytest.mark.parametrize("name", sorted(RAW))
def test_raw_inputs(stand_in, tmp_path: Path, name: str) -> None:
    data, shape, expected = RAW[name]
    exe, model = stand_in
    r = run_case(exe, tmp_path, _raw_args(tmp_path, data, shape), model)
    check_contract(r, expected, _rows(expected), f"raw {name} --shape {shape}")


INT_CASES = [(opt, v) for opt in INT_OPTIONS for v in INT_VALUES]


@pytest.mark.parametrize(("option", "value"), INT_CASES, ids=[f"{o}={v!r}" for o, v in INT_CASES])
def test_integer_options(stand_in, tmp_path: Path, option: str, value: str) -> None:
    """Parsed values run for real, except the huge warm-up/iteration counts (2**31-1 passes):
    those go to a missing model, which proves they parsed (exit 4, not 2) without running."""
    exe, model = stand_in
    expected = expected_int(option, value)
    huge_count = expected == 0 and option != "--batch" and int(value) > 100
    target = tmp_path / "missing.bin" if huge_count else model
    r = run_case(exe, tmp_path, [*_npy_args(tmp_path, npy_bytes()), option, value], target)
    check_contract(r, 4 if huge_count else expected, 2, f"{option} {value!r}")


@pytest.mark.parametrize(("option", "value"), INT_CASES, ids=[f"{o}={v!r}" for o, v in INT_CASES])
def test_integer_options_text_output(stand_in, tmp_path: Path, option: str, value: str) -> None:
    """The same with logits as text on stdout (main: '--iters 4294967296' was a segfault here)."""
    exe, model = stand_in
    expected = expected_int(option, value)
    if expected == 0 and option != "--batch" and int(value) > 100:
        return  # a real 2**31-1 passes: covered by test_integer_options (exit 4 before running)
    args = [*exe, str(model), *_npy_args(tmp_path, npy_bytes()), option, value, "--quiet"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode >= 0, f"{option} {value!r}: signal {-proc.returncode}"
    assert proc.returncode == expected, f"{option} {value!r}: exit {proc.returncode}\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    assert len(lines) == (2 if expected == 0 else 0), proc.stdout
    if lines:
        assert [len(line.split()) for line in lines] == [1 + CLASSES] * 2


@pytest.mark.parametrize(
    "args",
    [[], ["--input"], ["--bogus", "1"], ["--device", "tpu"], ["--shape", "1,1,1,1"], ["a", "b"]],
    ids=["no-input", "input-without-value", "unknown-option", "bad-device", "no-input-2", "extra"],
)
def test_malformed_command_lines(stand_in, tmp_path: Path, args: list[str]) -> None:
    exe, model = stand_in
    proc = subprocess.run([*exe, str(model), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr


def test_unwritable_output(stand_in, tmp_path: Path) -> None:
    exe, model = stand_in
    args = [*_npy_args(tmp_path, npy_bytes()), "--output", str(tmp_path / "no" / "dir" / "y.npy")]
    proc = subprocess.run([*exe, str(model), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 8, proc.stderr


# ---- the real runner: the cases that reach the model ----------------------------------------
REAL = [
    ("npy-valid", lambda t: _npy_args(t, npy_bytes()), 0),
    ("npy-product-wraps-to-0", lambda t: _npy_args(t, NPY["shape-product-wraps-to-0"][0]), 2),
    ("raw-product-wraps-to-0", lambda t: _raw_args(t, b"", WRAPS_TO_ZERO.replace(" ", "")), 2),
    ("iters-2**32", lambda t: [*_npy_args(t, npy_bytes()), "--iters", "4294967296"], 2),
    ("batch-2**31-1", lambda t: [*_npy_args(t, npy_bytes()), "--batch", "2147483647"], 0),
    ("batch-2**32+1", lambda t: [*_npy_args(t, npy_bytes()), "--batch", "4294967297"], 2),
]


@pytest.mark.parametrize(("name", "args", "expected"), REAL, ids=[c[0] for c in REAL])
def test_vgg_aoti_sweep(
    built: Path, tiny_pt2: Path, tmp_path: Path, name: str, args: Callable, expected: int
) -> None:
    """vgg_aoti with the tiny package (max batch 64: a bigger --batch is exit 2)."""
    exe = built / "vgg_aoti"
    if not exe.exists():
        pytest.skip("vgg_aoti was not built (libtorch not found)")
    r = run_case([str(exe)], tmp_path, args(tmp_path), tiny_pt2)
    check_contract(r, expected, 2, f"vgg_aoti {name}")
