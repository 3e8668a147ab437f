"""The builder configuration of a TensorRT build: the middle step of network -> config -> plan.

:func:`create_config` turns the build options into an ``IBuilderConfig`` (the optimization profile,
the workspace pool, the optimization level, version / hardware compatibility, DETAILED profiling
verbosity, the progress monitor and the timing cache) and nothing else - no network, no build -
so it can be checked alone, on the recording double (tests/backends/tensorrt/test_config.py) and on
a real GPU in milliseconds (tests/gpu/test_tensorrt_gpu.py). Polygraphy's ``CreateConfig`` loader
has the same shape. No builder flag selects a precision: the network is strongly typed (see
:mod:`.build`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from vggdeploy.backends.tensorrt import env
from vggdeploy.errors import UsageError

_HW_LEVEL = {"none": "NONE", "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}


@dataclass(frozen=True)
class ProgressEvent:
    """One report from TensorRT's IProgressMonitor: a phase started, advanced or finished."""

    kind: str  # "start" | "step" | "finish"
    phase: str
    parent: str | None
    done: int
    total: int


ProgressCallback = Callable[[ProgressEvent], None]


class BuilderConfig(NamedTuple):
    """What :func:`create_config` made: the ``IBuilderConfig``, its one optimization profile, the
    profile's shapes ({"min"|"opt"|"max": (batch, C, H, W)}), and the progress monitor and timing
    cache set on it (None when not asked for). Hold it until the build is done: the config refers
    to the monitor's Python object, which must outlive the builder's calls into it."""

    config: Any
    profile: Any
    shapes: dict[str, tuple[int, ...]]
    monitor: Any
    timing_cache: Any


def _make_progress_monitor(trt: ModuleType, callback: ProgressCallback) -> Any:
    """An IProgressMonitor (TensorRT >= 10) that forwards to ``callback`` from builder threads."""

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._parents: dict[str, str | None] = {}
            self._totals: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                self._parents[phase_name] = parent_phase
                self._totals[phase_name] = int(num_steps)
                callback(ProgressEvent("start", phase_name, parent_phase, 0, int(num_steps)))

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                total = self._totals.get(phase_name, step + 1)
                parent = self._parents.get(phase_name)
                callback(ProgressEvent("step", phase_name, parent, step + 1, total))
            return True  # keep building

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                total = self._totals.pop(phase_name, 0)
                parent = self._parents.pop(phase_name, None)
                callback(ProgressEvent("finish", phase_name, parent, total, total))

    return _Monitor()


def load_timing_cache(config: Any, path: Path) -> Any:
    """Set the builder's timing cache from ``path`` (a fresh one if absent or unreadable)."""
    blob = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(blob)
    except Exception:  # the bindings raise on a corrupt cache
        cache = None
    if cache is None:  # unreadable or from another TensorRT: start a fresh one
        env.log.warning("timing cache %s could not be loaded; starting a new one", path)
        cache = config.create_timing_cache(b"")
    # ignore_mismatch=False: a cache from another GPU/TensorRT must not steer tactics here.
    config.set_timing_cache(cache, False)
    return cache


def create_config(
    trt: ModuleType,
    builder: Any,
    *,
    input_name: str,
    chw: tuple[int, int, int],
    min_batch: int,
    opt_batch: int,
    max_batch: int,
    workspace: int | None = None,
    opt_level: int | None = None,
    version_compatible: bool = False,
    hardware_compat: str = "none",
    progress: ProgressCallback | None = None,
    timing_cache: Path | None = None,
) -> BuilderConfig:
    """An ``IBuilderConfig`` from ``builder`` for one input ``input_name`` of shape (batch, *chw).

    The arguments are checked by :func:`.build.build_engine` first; the one refusal here is a
    ``hardware_compat`` level this TensorRT lacks (UsageError). ``workspace`` / ``opt_level`` None
    keep TensorRT's defaults; ``timing_cache`` is loaded (or started) but not written back."""
    config = builder.create_builder_config()
    shapes = {
        "min": (min_batch, *chw),
        "opt": (opt_batch, *chw),
        "max": (max_batch, *chw),
    }
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace))
    if opt_level is not None:
        config.builder_optimization_level = int(opt_level)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if hardware_compat != "none":
        level_name = _HW_LEVEL[hardware_compat]
        level = getattr(trt.HardwareCompatibilityLevel, level_name, None)
        if level is None:
            raise UsageError(
                f"--hardware-compat {hardware_compat} needs a newer TensorRT "
                f"(HardwareCompatibilityLevel.{level_name} is missing in {trt.__version__})",
                hint="pip install -U tensorrt, or use --hardware-compat ampere+",
            )
        config.hardware_compatibility_level = level
    # Detailed layer information lets `inspect` show each layer's tactic, types and formats, and
    # the precision gate read what each layer runs in.
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    monitor = cache = None
    if progress is not None:
        monitor = _make_progress_monitor(trt, progress)
        config.progress_monitor = monitor
    if timing_cache is not None:
        cache = load_timing_cache(config, timing_cache)
    return BuilderConfig(config, profile, shapes, monitor, cache)
