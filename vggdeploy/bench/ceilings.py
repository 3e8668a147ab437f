"""Measured compute ceilings of this machine: a short square GEMM per precision, cached.

Bench states each row's efficiency as a share of the ceiling of the row's precision, measured
here rather than derived from a formula (clock x lanes x FMA units, see ``sysinfo.cpu_peak``, is
off by turbo, AVX-512 clock licences and what the hypervisor gives):

* ``fp32``: ``torch.mm`` on float32 (MKL/oneDNN sgemm);
* ``bf16``: ``torch.mm`` on bfloat16 (oneDNN: AMX or AVX512_BF16 where the CPU has them; emulated
  otherwise, which the entry records as ``native: false``);
* ``int8``: the faster of ``torch._int_mm`` (int8 x int8 -> int32) and ONNX Runtime's
  ``MatMulInteger`` (uint8 x int8 -> int32, MLAS: the kernel vggdeploy's CPU INT8 form runs). On
  CPUs without VNNI (AMD Zen 3) torch's kernel is a slow fallback (~2 G op/s on 2 cores) that every
  INT8 backend beats tenfold: one library's slow path is not the machine's ceiling. The entry
  records every candidate (``kernels``) and which one set it (``kernel``).

A ceiling is what a well-kept library reaches on a large GEMM, not the hardware's peak: a backend
with better kernels can exceed it (a share above 100 % says so, it is not clipped). The rate is
2·n³ operations over the median call time of the fastest of three short rounds, at each size of
``GEMM_SIZES``; a precision's ceiling is its best size (``size`` in the entry, every size's rate
in ``by_size``). One size is not enough: on a 2-core AMX Xeon the BF16 GEMM ran 1.3 TFLOP/s at
1024 and 2.4 at 2048 (the 1024 call is too short to amortise packing its operands into AMX tiles),
and OpenVINO's BF16 VGG-11 reached 2.4, 180 % of the 1024 figure. Results are cached per machine
(CPU model, flags, threads, torch version) in ``$VGGDEPLOY_CACHE`` (default
``~/.cache/vggdeploy``)/ceilings.json, so a bench run pays the few seconds once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vggdeploy._io import write_json
from vggdeploy.backends.cpu_features import cpu_features

CEILING_PRECISIONS = ("fp32", "bf16", "int8")
# 2.1 and 17 GFLOP per call: long enough to time, short enough for a 2-core machine (the emulated
# BF16 of CPUs without it runs the larger in ~0.4 s)
GEMM_SIZES = (1024, 2048)
ROUND_S = 0.25  # seconds per round (three rounds per precision)
CACHE_VERSION = 3  # 2: INT8 = the best of torch and ONNX Runtime; 3: the best of GEMM_SIZES


def cache_path() -> Path:
    root = os.environ.get("VGGDEPLOY_CACHE") or Path.home() / ".cache" / "vggdeploy"
    return Path(root) / "ceilings.json"


def machine_key(cpu: dict[str, Any], threads: int) -> str:
    """What a cached ceiling is valid for: CPU model and flags, threads, torch version."""
    import torch

    flags = ",".join(sorted(cpu_features().flags))
    text = f"{cpu.get('model')}|{flags}|{threads}|torch {torch.__version__}|v{CACHE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rate(call: Callable[[], Any], ops: float, round_s: float) -> float:
    call()
    call()  # warm-up: first calls pack weights / pick kernels
    medians = []
    for _ in range(3):
        times: list[float] = []
        start = time.perf_counter()
        while not times or time.perf_counter() - start < round_s:
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        times.sort()
        medians.append(times[len(times) // 2])
    return ops / min(medians)


def measure_ceilings(
    threads: int, *, sizes: tuple[int, ...] = GEMM_SIZES, round_s: float = ROUND_S
) -> dict[str, Any]:
    """Square GEMMs of each of ``sizes`` per precision with ``threads`` threads -> the best
    ops/s per precision, the size that reached it and every size's figure."""
    runs = {n: _measure_at(threads, n, round_s) for n in sizes}
    out: dict[str, Any] = {}
    for precision in CEILING_PRECISIONS:
        by_size = {n: runs[n][precision] for n in sizes}
        rated = [n for n in sizes if by_size[n].get("ops_per_s")]
        best = max(rated, key=lambda n: by_size[n]["ops_per_s"], default=sizes[0])
        out[precision] = {
            **by_size[best],
            "size": best,
            "by_size": {str(n): by_size[n].get("ops_per_s") for n in sizes},
        }
    shown = ", ".join(f"{n}x{n}x{n}" for n in sizes)
    return {"gemm": f"best of {shown}", "threads": threads, "precisions": out}


def _measure_at(threads: int, size: int, round_s: float) -> dict[str, Any]:
    """One square GEMM of ``size`` per precision with ``threads`` threads -> ops/s each."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    ops = 2.0 * size**3
    out: dict[str, Any] = {}
    try:
        a = torch.randn(size, size, generator=gen)
        b = torch.randn(size, size, generator=gen)
        with torch.inference_mode():
            out["fp32"] = {"ops_per_s": _rate(lambda: torch.mm(a, b), ops, round_s)}
            ab, bb = a.bfloat16(), b.bfloat16()
            out["bf16"] = {
                "ops_per_s": _rate(lambda: torch.mm(ab, bb), ops, round_s),
                "native": cpu_features().native_bf16,
            }
            ai = torch.randint(-128, 128, (size, size), dtype=torch.int8, generator=gen)
            bi = torch.randint(-128, 128, (size, size), dtype=torch.int8, generator=gen)
            kernels: dict[str, Any] = {}
            try:
                kernels["torch._int_mm int8"] = _rate(lambda: torch._int_mm(ai, bi), ops, round_s)
            except RuntimeError as exc:  # a torch build without a CPU _int_mm
                kernels["torch._int_mm int8"] = {"error": str(exc).splitlines()[0]}
    finally:
        torch.set_num_threads(previous)
    kernels["onnxruntime MatMulInteger u8s8"] = _ort_int8_rate(threads, size, ops, round_s)
    rates = {k: v for k, v in kernels.items() if isinstance(v, float)}
    best = max(rates, key=lambda k: rates[k], default=None)
    out["int8"] = {
        "ops_per_s": rates.get(best) if best else None,
        "native": cpu_features().native_int8_dot,
        "kernel": best,
        "kernels": kernels,
    }
    out["fp32"]["kernel"] = "torch.mm float32"
    out["bf16"]["kernel"] = "torch.mm bfloat16"
    return out


def _ort_int8_rate(threads: int, size: int, ops: float, round_s: float) -> float | dict:
    """ONNX Runtime's MatMulInteger (uint8 A x int8 B -> int32) on ``threads`` intra-op threads;
    B is a constant, as a quantized layer's weights are."""
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        b = numpy_helper.from_array(rng.integers(-128, 128, (size, size), dtype=np.int8), "b")
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
            "int8_gemm",
            [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, [size, size])],
            initializer=[b],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        session = ort.InferenceSession(
            onnx.shape_inference.infer_shapes(model).SerializeToString(), so,
            providers=["CPUExecutionProvider"],
        )  # fmt: skip
        feed = {"a": rng.integers(0, 256, (size, size), dtype=np.uint8)}
        return _rate(lambda: session.run(None, feed), ops, round_s)
    except Exception as exc:  # noqa: BLE001 - a missing kernel only loses this candidate
        return {"error": (str(exc).splitlines() or [type(exc).__name__])[0]}


def machine_ceilings(
    cpu: dict[str, Any], threads: int, *, refresh: bool = False, path: Path | None = None
) -> dict[str, Any]:
    """This machine's ceilings at ``threads`` threads, from the cache or measured (and cached).
    ``source`` says which, ``measured`` when."""
    path = path or cache_path()
    key = machine_key(cpu, threads)
    cache: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        cache = loaded if isinstance(loaded, dict) else {}
    entry = cache.get(key)
    if not refresh and isinstance(entry, dict) and "precisions" in entry:
        return {**entry, "source": f"cache {path}"}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    entry = measure_ceilings(threads)
    entry["measured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entry["cpu"] = cpu.get("model")
    entry["load_average"] = load
    busy = load is not None and load > max(1, int(cpu.get("usable_cpus") or 1)) - 0.5
    if busy:  # other work shared the cores: valid for this run only, never cached
        return {**entry, "source": f"measured now, not cached (machine busy: load {load:.1f})"}
    cache[key] = entry
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-measurement
        write_json(path, cache)
    return {**entry, "source": "measured now"}


def ceiling_share(
    ceilings: dict[str, Any] | None, precision: str, ops_per_s: float
) -> float | None:
    """``ops_per_s`` as a share of the measured ceiling of ``precision`` (None: no ceiling)."""
    entry = ((ceilings or {}).get("precisions") or {}).get(precision) or {}
    peak = entry.get("ops_per_s")
    return ops_per_s / peak if peak else None


def formula_check(ceilings: dict[str, Any], peak: dict[str, Any]) -> dict[str, Any]:
    """The formula's FP32 peak (``sysinfo.cpu_peak``) against the measured FP32 GEMM."""
    measured = ((ceilings.get("precisions") or {}).get("fp32") or {}).get("ops_per_s")
    formula = peak.get("fp32_flops")
    return {
        "formula_fp32_flops": formula,
        "measured_fp32_flops": measured,
        "measured_over_formula": measured / formula if measured and formula else None,
        "formula": peak.get("formula"),
    }


__all__ = [
    "CEILING_PRECISIONS",
    "ceiling_share",
    "formula_check",
    "machine_ceilings",
    "measure_ceilings",
]
