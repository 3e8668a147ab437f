"""The environment a benchmark ran in, and this CPU's theoretical peak FLOP/s.

Peak FP32 FLOP/s = cores x clock x FLOPs per cycle per core, where FLOPs per cycle per core =
SIMD lanes (fp32) x 2 (a fused multiply-add counts as two FLOPs) x FMA units per core:

* ``avx512f``: 16 lanes; ``avx2`` + ``fma``: 8 lanes; ``avx`` without FMA: 8 lanes x 1 (a separate
  multiply and add port gives the same 2 FLOPs per lane per cycle, counted as 1 "FMA" unit x 2);
  otherwise SSE: 4 lanes.
* FMA units per core cannot be read from the flags: Xeon Gold/Platinum and client cores since
  Haswell have 2 for AVX2, server parts with AVX-512 mostly 2 (some Silver/Bronze have 1). We assume
  2 and record the assumption; override with ``VGGDEPLOY_FMA_UNITS``.
* Clock: ``VGGDEPLOY_CPU_GHZ`` if set, else lscpu's "CPU max MHz", else /proc/cpuinfo's "cpu MHz"
  (in a VM this is the nominal clock; turbo makes the real peak higher, AVX-512 licence lower).
* Cores: the cores this process may run on (sched_getaffinity), divided by threads per core.

INT8 peak: with AVX-512 VNNI (``avx512_vnni``) or AVX-VNNI one vpdpbusd does 4 int8 MACs per 32-bit
lane, so the int8 op rate is 4 x the fp32 FLOP rate; without VNNI we report 2x (vpmaddubsw path).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from vggdeploy.backends.cpu_features import cpu_features

LIBRARIES = (
    "vggdeploy",
    "torch",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
    "nvidia-modelopt",
    "onnxslim",
    "openvino",
    "nncf",
)


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in out:
                out[key.strip()] = value.strip()
    return out


def cpu_info() -> dict[str, Any]:
    """CPU model, core counts, clock and SIMD flags (Linux; best effort elsewhere)."""
    lscpu, cpuinfo = _lscpu(), _cpuinfo()
    flags = set((lscpu.get("Flags") or cpuinfo.get("flags") or "").split())
    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    threads_per_core = int(lscpu.get("Thread(s) per core", "1") or 1)
    ghz = None
    source = None
    if os.environ.get("VGGDEPLOY_CPU_GHZ"):
        ghz, source = float(os.environ["VGGDEPLOY_CPU_GHZ"]), "VGGDEPLOY_CPU_GHZ"
    elif lscpu.get("CPU max MHz"):
        ghz, source = float(lscpu["CPU max MHz"]) / 1000, "lscpu CPU max MHz"
    elif cpuinfo.get("cpu MHz"):
        ghz, source = float(cpuinfo["cpu MHz"]) / 1000, "/proc/cpuinfo cpu MHz"
    return {
        "model": lscpu.get("Model name") or cpuinfo.get("model name") or platform.processor(),
        "logical_cpus": logical,
        "usable_cpus": usable,
        "physical_cores": max(1, usable // max(1, threads_per_core)),
        "threads_per_core": threads_per_core,
        "ghz": ghz,
        "ghz_source": source,
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "simd": sorted(
            f for f in flags if re.fullmatch(r"(avx.*|fma|amx.*|sse4_2|f16c|avx_vnni)", f)
        ),
        # what runs natively (AMX, AVX512_BF16, VNNI): bench skips what would be emulated
        "features": cpu_features(flags).as_dict(),
    }


def cpu_peak(cpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """Theoretical peak of the usable cores: fp32 FLOP/s and int8 op/s, with how it was derived."""
    cpu = cpu or cpu_info()
    simd = set(cpu["simd"])
    if "avx512f" in simd:
        lanes, isa = 16, "avx512f"
    elif "avx2" in simd and "fma" in simd:
        lanes, isa = 8, "avx2+fma"
    elif any(f.startswith("avx") for f in simd):
        lanes, isa = 8, "avx"
    else:
        lanes, isa = 4, "sse"
    fma_units = int(os.environ.get("VGGDEPLOY_FMA_UNITS", "2" if isa != "avx" else "1"))
    flops_per_cycle = lanes * 2 * fma_units
    vnni = bool({"avx512_vnni", "avx_vnni"} & simd)
    ghz = cpu.get("ghz")
    cores = cpu["physical_cores"]
    fp32 = cores * ghz * 1e9 * flops_per_cycle if ghz else None
    return {
        "fp32_flops": fp32,
        "int8_ops": fp32 * (4 if vnni else 2) if fp32 else None,
        "cores": cores,
        "ghz": ghz,
        "isa": isa,
        "fp32_lanes": lanes,
        "fma_units_per_core": fma_units,
        "flops_per_cycle_per_core": flops_per_cycle,
        "vnni": vnni,
        "formula": f"{cores} cores x {ghz} GHz x {lanes} lanes x 2 (FMA) x {fma_units} FMA units",
    }


def gpu_info() -> list[dict[str, Any]]:
    """CUDA devices seen by torch, with the driver version from nvidia-smi when present."""
    gpus: list[dict[str, Any]] = []
    try:
        import torch

        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                gpus.append(
                    {
                        "index": i,
                        "name": p.name,
                        "memory_gib": round(p.total_memory / 2**30, 1),
                        "capability": f"{p.major}.{p.minor}",
                        "cuda": torch.version.cuda,
                    }
                )
    except Exception:  # a broken CUDA install must not stop the report
        return gpus
    if gpus:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.split()
            for g, d in zip(gpus, driver, strict=False):
                g["driver"] = d
    return gpus


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, Any] | None:
    """Commit (and whether the tree was dirty) of the vggdeploy checkout, if it is one."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty)}


def memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def environment() -> dict[str, Any]:
    cpu = cpu_info()
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu,
        "cpu_peak": cpu_peak(cpu),
        "memory_gib": memory_gib(),
        "gpus": gpu_info(),
        "libraries": library_versions(),
        "git": git_commit(),
        "thread_env": {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "KMP_BLOCKTIME", "OMP_WAIT_POLICY")
            if k in os.environ
        },
    }
