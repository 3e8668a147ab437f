"""The builder-configuration cases both the recording double and a real GPU are held to.

``CASES`` are build options; ``check_config`` makes an ``IBuilderConfig`` with
``vggdeploy.backends.tensorrt.config.create_config`` and reads it back through TensorRT's public
getters (``get_flag``, ``get_memory_pool_limit``, ``num_optimization_profiles``,
``IOptimizationProfile.get_shape``, the properties). The expected values come from the options in
the case, not from vggdeploy's code. Used by tests/backends/tensorrt/test_config.py (double, 10.x
and 11.x flavours) and tests/gpu/test_tensorrt_gpu.py (real TensorRT, milliseconds: no build).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from vggdeploy.backends.tensorrt.config import create_config

INPUT = "input"
CHW = (1, 32, 32)

CASES: dict[str, dict[str, Any]] = {
    "defaults": {"min_batch": 1, "opt_batch": 32, "max_batch": 128},
    "all-options": {
        "min_batch": 2,
        "opt_batch": 8,
        "max_batch": 16,
        "workspace": 1 << 30,
        "opt_level": 5,
        "version_compatible": True,
        "hardware_compat": "ampere+",
        "progress": True,
        "timing_cache": True,
    },
    "same-cc, level 0": {
        "min_batch": 4,
        "opt_batch": 4,
        "max_batch": 4,
        "opt_level": 0,
        "hardware_compat": "same-cc",
    },
}
_LEVELS = {"none": "NONE", "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}


def check_config(trt: ModuleType, builder: Any, case: dict[str, Any], tmp: Path) -> Any:
    """create_config for ``case``; assert what TensorRT reports back; return what it made."""
    opts = dict(case)
    events: list[Any] = []
    if opts.pop("progress", False):
        opts["progress"] = events.append
    if opts.pop("timing_cache", False):
        opts["timing_cache"] = tmp / "timing.cache"  # absent: a fresh cache is started
    made = create_config(trt, builder, input_name=INPUT, chw=CHW, **opts)
    config = made.config

    want = [(case[k], *CHW) for k in ("min_batch", "opt_batch", "max_batch")]
    assert config.num_optimization_profiles == 1
    assert [tuple(d) for d in made.profile.get_shape(INPUT)] == want
    assert made.shapes == dict(zip(("min", "opt", "max"), want, strict=True))

    assert config.profiling_verbosity == trt.ProfilingVerbosity.DETAILED
    assert config.get_flag(trt.BuilderFlag.VERSION_COMPATIBLE) == case.get(
        "version_compatible", False
    )
    for weak in ("FP16", "BF16", "INT8", "FP8"):  # strongly typed: no precision flag, ever
        flag = getattr(trt.BuilderFlag, weak, None)  # removed in 11.x
        assert flag is None or not config.get_flag(flag), weak
    if "workspace" in case:
        assert config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE) == case["workspace"]
    if "opt_level" in case:
        assert config.builder_optimization_level == case["opt_level"]
    else:
        assert config.builder_optimization_level == 3  # TensorRT's documented default
    level = _LEVELS[case.get("hardware_compat", "none")]
    assert config.hardware_compatibility_level == getattr(trt.HardwareCompatibilityLevel, level)
    if case.get("progress"):
        assert made.monitor is not None and config.progress_monitor is not None
    else:
        assert made.monitor is None and config.progress_monitor is None
    if case.get("timing_cache"):
        assert made.timing_cache is not None and config.get_timing_cache() is not None
    else:
        assert made.timing_cache is None
    return made
