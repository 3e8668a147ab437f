"""What this CPU computes natively: AMX, AVX-512 BF16, VNNI, read from the kernel's CPU flags.

One home for the question "does this CPU run BF16 (or INT8 dot products) in hardware?", asked by
the OpenVINO backend (BF16 builds and runs are refused where BF16 would be emulated), by bench
(skip rows, the CPU's features in the results), ``sysinfo`` and training (``--cpu-bf16``).

Why flags and not a default: on a CPU without AMX or AVX512_BF16 (AMD Zen 3 has been seen),
oneDNN and OpenVINO emulate BF16 through FP32 conversions and run about 10x slower than FP32.
The flags are the kernel's (``/proc/cpuinfo``), the same names ``lscpu`` prints; tests pass their
own flag set instead of this machine's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: where the kernel lists the CPU flags (tests point this elsewhere through ``cpu_flags(text=)``)
CPUINFO = Path("/proc/cpuinfo")

#: flags that make BF16 matrix arithmetic native (AMX tiles, or AVX-512 BF16 dot products)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
#: flags that give INT8 dot-product instructions (VNNI) or tiles (AMX-INT8)
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def cpu_flags(text: str | None = None) -> frozenset[str]:
    """The CPU flags of the first processor in ``/proc/cpuinfo`` (or in ``text``, the same
    format); empty where the file is missing (not Linux)."""
    if text is None:
        text = ""
        with contextlib.suppress(OSError):
            text = CPUINFO.read_text()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@dataclass(frozen=True)
class CpuFeatures:
    """The arithmetic this CPU has in hardware, from its flags."""

    flags: frozenset[str]

    @property
    def amx(self) -> bool:
        return "amx_tile" in self.flags and bool({"amx_bf16", "amx_int8"} & self.flags)

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    @property
    def vnni(self) -> bool:
        return bool({"avx512_vnni", "avx_vnni"} & self.flags)

    @property
    def native_bf16(self) -> bool:
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def native_int8_dot(self) -> bool:
        return any(f in self.flags for f in INT8_FLAGS)

    def bf16_refusal(self) -> str | None:
        """Why BF16 would be emulated here (None where it is native)."""
        if self.native_bf16:
            return None
        return (
            "this CPU has no native BF16 (neither AMX-BF16 nor AVX512_BF16 among its flags): "
            "BF16 would be emulated, about 10x slower than FP32"
        )

    def as_dict(self) -> dict[str, object]:
        """The features for results and ``sysinfo`` (names as the kernel spells the flags)."""
        return {
            "amx": self.amx,
            "amx_bf16": "amx_bf16" in self.flags,
            "amx_int8": "amx_int8" in self.flags,
            "avx512_bf16": self.avx512_bf16,
            "avx512_vnni": "avx512_vnni" in self.flags,
            "avx_vnni": "avx_vnni" in self.flags,
            "native_bf16": self.native_bf16,
            "native_int8_dot": self.native_int8_dot,
        }


def cpu_features(flags: Iterable[str] | None = None) -> CpuFeatures:
    """This CPU's features (or those of ``flags``, for tests and other machines' records)."""
    return CpuFeatures(frozenset(cpu_flags() if flags is None else flags))


__all__ = ["BF16_FLAGS", "INT8_FLAGS", "CpuFeatures", "cpu_features", "cpu_flags"]
