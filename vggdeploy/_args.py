"""Checks of the Python API's public arguments, shared by every entry point (train's TrainConfig,
export_variants, build_engine, build_inductor, BenchConfig, build_triton_repo, debug_precision,
load). A wrong type or an out-of-range value is a :class:`~vggdeploy.errors.UsageError` (exit 2)
naming the argument, never a raw TypeError/ValueError from deep inside a library.

The rules match the CLI's (vggdeploy/cli/options.py): integers are ints (not bool, not float,
not text) and fit int32 unless a wider bound is given; numbers are finite ints or floats. The
names passed are the CLI spellings (``--max-batch``), which the API's users also see in the
messages of every other check.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from typing import Any

from vggdeploy.errors import UsageError

INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1
# Threads are real OS threads (torch.set_num_threads overflows past a C int, and far beyond any
# machine's cores a count is a typo); a timed duration of more than a day per case is a typo.
MAX_THREADS = 1024
MAX_DURATION_S = 86_400


def _type_name(value: Any) -> str:
    return type(value).__name__


def show(value: Any) -> str:
    """repr, shortened: a 400-digit integer is not worth a screenful."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} chars)"


def integer(name: str, value: Any, *, min: int | None = None, max: int = INT32_MAX) -> int:
    """``value`` as an int in [min, max]; numpy integers are taken, bool/float/str are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be an integer, got {show(value)} ({_type_name(value)})")
    v = operator.index(value)
    if (min is not None and v < min) or v > max:
        where = f"<= {max}" if min is None else f"in [{min}, {max}]"
        raise UsageError(f"{name} must be an integer {where}, got {show(v)}")
    return v


def optional_integer(name: str, value: Any, **bounds: Any) -> int | None:
    return None if value is None else integer(name, value, **bounds)


def number(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
) -> float:
    """``value`` as a finite float in the range; ints and numpy numbers are taken."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number, got {show(value)} ({_type_name(value)})")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float's range
        raise UsageError(f"{name} must be a finite number, got {show(value)}") from None
    if not math.isfinite(v):
        raise UsageError(f"{name} must be a finite number, got {show(value)}")
    below = min is not None and (v <= min if min_open else v < min)
    above = max is not None and (v >= max if max_open else v > max)
    if below or above:
        lo = "(-inf" if min is None else f"{'(' if min_open else '['}{min:g}"
        hi = "inf)" if max is None else f"{max:g}{')' if max_open else ']'}"
        raise UsageError(f"{name} must be in {lo}, {hi}, got {show(value)}")
    return v


def optional_number(name: str, value: Any, **bounds: Any) -> float | None:
    return None if value is None else number(name, value, **bounds)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be True or False, got {show(value)} ({_type_name(value)})")
    return value


def optional_boolean(name: str, value: Any) -> bool | None:
    return None if value is None else boolean(name, value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, got {show(value)} ({_type_name(value)})")
    return value


def path(name: str, value: Any) -> str | os.PathLike[str]:
    """A str or os.PathLike (bytes paths and other objects are refused)."""
    if isinstance(value, str) or (
        isinstance(value, os.PathLike) and isinstance(os.fspath(value), str)
    ):
        return value
    raise UsageError(f"{name} must be a path (str or os.PathLike), got {show(value)}")


def optional_path(name: str, value: Any) -> str | os.PathLike[str] | None:
    return None if value is None else path(name, value)
