"""A recording test double of the ``tensorrt`` Python module, in a 10.x and an 11.x flavour.

This is NOT TensorRT: it builds no engine and runs nothing. It mimics the *surface* of the Python
bindings closely enough to run vggdeploy's build/load code on a machine without a GPU, and records
every call and attribute access so contract tests can check what that code asks TensorRT for.

Written from the TensorRT documentation and bindings, not from memory:
- Python API reference (docs.nvidia.com/deeplearning/tensorrt/.../python-api): Builder,
  IBuilderConfig, IOptimizationProfile, ITimingCache, IProgressMonitor, Runtime, ICudaEngine,
  IEngineInspector, OnnxParser, NetworkDefinitionCreationFlag, BuilderFlag, MemoryPoolType,
  HardwareCompatibilityLevel;
- "Migrating from TensorRT 10.x to 11.x" (Python): BuilderFlag.FP16/BF16/INT8/FP8/INT4/FP4/
  OBEY_PRECISION_CONSTRAINTS/PREFER_PRECISION_CONSTRAINTS, IBuilderConfig.int8_calibrator,
  *_calibration_profile, *_quantization_flag(s) and Builder.platform_has_fast_fp16/int8 are removed;
  strongly typed is the only mode and NetworkDefinitionCreationFlag.STRONGLY_TYPED (value 0) is
  kept but ignored; EXPLICIT_BATCH is gone (NVIDIA/TensorRT python/src/infer/pyCore.cpp at the
  10.16.1 and 11.1 releases).
In the 11 flavour the removed names simply do not exist, so touching one raises AttributeError as
the real bindings do. In both flavours every public attribute read is recorded in ``touched``.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import numpy as np

# Removed in 11.x (migration guide) or long gone (8.x binding API removed in 10.x).
# Enum members are recorded as "Enum.MEMBER", object attributes by their bare name.
REMOVED_IN_11 = frozenset(
    {
        *(
            f"BuilderFlag.{f}"
            for f in ("FP16", "BF16", "INT8", "FP8", "INT4", "FP4")
            + ("OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")
        ),
        "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",
        "int8_calibrator",
        "set_calibration_profile",
        "get_calibration_profile",
        "set_quantization_flag",
        "get_quantization_flag",
        "quantization_flags",
        "clear_quantization_flag",
        "platform_has_fast_fp16",
        "platform_has_fast_int8",
        "device_memory_size",
        "algorithm_selector",
    }
)
REMOVED_IN_10 = frozenset(
    {
        "max_workspace_size",
        "max_batch_size",
        "build_engine",
        "get_binding_shape",
        "binding_is_input",
        "execute_async_v2",
        "num_bindings",
    }
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.touched: list[str] = []

    def call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def args_of(self, name: str) -> list[tuple[Any, ...]]:
        return [a for n, a in self.calls if n == name]


class _Member(int):
    """An enum value: an int (pybind11 enums with py::arithmetic behave so) with a name."""

    def __new__(cls, enum: str, name: str, value: int) -> _Member:
        obj = int.__new__(cls, value)
        obj.name = name  # type: ignore[attr-defined]
        obj.enum = enum  # type: ignore[attr-defined]
        return obj

    def __repr__(self) -> str:
        return f"<{self.enum}.{self.name}: {int(self)}>"  # type: ignore[attr-defined]


def _enum(rec: Recorder, name: str, members: list[str] | dict[str, int]) -> type:
    values = members if isinstance(members, dict) else {m: i for i, m in enumerate(members)}

    class Meta(type):
        def __getattribute__(cls, attr: str) -> Any:
            if not attr.startswith("_"):
                rec.touched.append(f"{name}.{attr}")
            return type.__getattribute__(cls, attr)

    return Meta(name, (), {k: _Member(name, k, v) for k, v in values.items()})


class _Recorded:
    """Base of fake objects: records every public attribute read."""

    __slots__ = ()  # lets subclasses with __slots__ reject unknown attributes like pybind11 does
    _rec: Recorder

    def __getattribute__(self, attr: str) -> Any:
        if not attr.startswith("_"):
            object.__getattribute__(self, "_rec").touched.append(attr)
        return object.__getattribute__(self, attr)


def make_tensorrt(flavour: str) -> ModuleType:
    """A fresh fake ``tensorrt`` module for ``flavour`` "10" or "11" with its own Recorder."""
    if flavour not in ("10", "11"):
        raise ValueError(flavour)
    rec = Recorder()
    trt = ModuleType("tensorrt")
    trt.__version__ = "10.16.1.11" if flavour == "10" else "11.1.0.4"
    trt.recorder = rec

    weak = ["FP16", "BF16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS"]
    common = ["DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "EDITABLE_TIMING_CACHE"]
    common += ["TF32", "SPARSE_WEIGHTS", "SAFETY_SCOPE", "DIRECT_IO", "VERSION_COMPATIBLE"]
    common += ["EXCLUDE_LEAN_RUNTIME", "ERROR_ON_TIMING_CACHE_MISS", "STRIP_PLAN"]
    trt.BuilderFlag = _enum(rec, "BuilderFlag", (weak + common) if flavour == "10" else common)
    if flavour == "10":
        creation = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1, "PREFER_AOT_PYTHON_PLUGINS": 2}
    else:  # STRONGLY_TYPED kept for API compatibility, ignored; EXPLICIT_BATCH removed
        creation = {"STRONGLY_TYPED": 0, "PREFER_AOT_PYTHON_PLUGINS": 1}
    trt.NetworkDefinitionCreationFlag = _enum(rec, "NetworkDefinitionCreationFlag", creation)
    trt.MemoryPoolType = _enum(rec, "MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"])
    trt.HardwareCompatibilityLevel = _enum(
        rec, "HardwareCompatibilityLevel", ["NONE", "AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY"]
    )
    trt.ProfilingVerbosity = _enum(
        rec, "ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE", "DETAILED"]
    )
    trt.LayerInformationFormat = _enum(rec, "LayerInformationFormat", ["ONELINE", "JSON"])
    trt.TensorIOMode = _enum(rec, "TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    trt.DataType = _enum(rec, "DataType", ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8"])

    class ILogger:
        Severity = _enum(rec, "Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])

        def __init__(self) -> None:
            pass

    class Logger(ILogger):
        WARNING = ILogger.Severity.WARNING

        def __init__(self, min_severity: Any = None) -> None:
            super().__init__()

        def log(self, severity: Any, msg: str) -> None:
            pass

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    trt.ILogger, trt.Logger, trt.IProgressMonitor = ILogger, Logger, IProgressMonitor

    onnx_dtypes = {1: trt.DataType.FLOAT, 10: trt.DataType.HALF, 3: trt.DataType.INT8}

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...], dtype: Any) -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class Network(_Recorded):
        def __init__(self, flags: int) -> None:
            self._rec = rec
            self.flags = flags
            self._inputs: list[Tensor] = []
            self._outputs: list[Tensor] = []

        @property
        def num_inputs(self) -> int:
            return len(self._inputs)

        @property
        def num_outputs(self) -> int:
            return len(self._outputs)

        def get_input(self, i: int) -> Tensor:
            return self._inputs[i]

        def get_output(self, i: int) -> Tensor:
            return self._outputs[i]

    class OnnxParser(_Recorded):
        def __init__(self, network: Network, logger: Any) -> None:
            self._rec = rec
            self._network = network
            self._errors: list[str] = []

        def parse_from_file(self, path: str) -> bool:
            import onnx

            rec.call("parse_from_file", path)
            try:
                model = onnx.load(path, load_external_data=False)
            except Exception as exc:
                self._errors.append(f"ModelImporter: failed to parse {path}: {exc}")
                return False

            def tensors(values: Any) -> list[Tensor]:
                out = []
                for v in values:
                    tt = v.type.tensor_type
                    dims = tuple(
                        d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim
                    )
                    out.append(Tensor(v.name, dims, onnx_dtypes.get(tt.elem_type, tt.elem_type)))
                return out

            inits = {i.name for i in model.graph.initializer}
            self._network._inputs = tensors(v for v in model.graph.input if v.name not in inits)
            self._network._outputs = tensors(model.graph.output)
            return True

        @property
        def num_errors(self) -> int:
            return len(self._errors)

        def get_error(self, i: int) -> str:
            return self._errors[i]

    class OptimizationProfile(_Recorded):
        def __init__(self) -> None:
            self._rec = rec
            self.shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:
            rec.call("profile.set_shape", name, tuple(min), tuple(opt), tuple(max))
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class TimingCache(_Recorded):
        def __init__(self, blob: bytes) -> None:
            self._rec = rec
            self.entries = json.loads(blob[len(b"TCACHE") :]) if blob else []

        def serialize(self) -> bytes:
            rec.call("timing_cache.serialize")
            return b"TCACHE" + json.dumps(self.entries).encode()

    config_attrs = {
        "builder_optimization_level": 3,
        "hardware_compatibility_level": trt.HardwareCompatibilityLevel.NONE,
        "progress_monitor": None,
        "profiling_verbosity": trt.ProfilingVerbosity.LAYER_NAMES_ONLY,
        "avg_timing_iterations": 1,
    }
    if flavour == "10":
        config_attrs["int8_calibrator"] = None

    class BuilderConfig(_Recorded):
        __slots__ = ("_rec", "flags_set", "profiles", "pools", "_cache", *config_attrs)

        def __init__(self) -> None:
            self._rec = rec
            self.flags_set: list[Any] = []
            self.profiles: list[OptimizationProfile] = []
            self.pools: dict[Any, int] = {}
            self._cache: TimingCache | None = None
            for k, v in config_attrs.items():
                object.__setattr__(self, k, v)

        def __setattr__(self, name: str, value: Any) -> None:
            if not name.startswith("_") and name not in ("flags_set", "profiles", "pools"):
                rec.call(f"config.{name}=", value)
            object.__setattr__(self, name, value)  # AttributeError for names not in __slots__

        def set_flag(self, flag: Any) -> None:
            rec.call("config.set_flag", flag)
            self.flags_set.append(flag)

        def get_flag(self, flag: Any) -> bool:
            return flag in self.flags_set

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            rec.call("config.set_memory_pool_limit", pool, size)
            self.pools[pool] = size

        def add_optimization_profile(self, profile: OptimizationProfile) -> int:
            rec.call("config.add_optimization_profile", profile)
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            rec.call("config.create_timing_cache", bytes(blob))
            if blob and not bytes(blob).startswith(b"TCACHE"):
                raise RuntimeError("invalid timing cache")
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            rec.call("config.set_timing_cache", cache, ignore_mismatch)
            self._cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self._cache

    class Builder(_Recorded):
        def __init__(self, logger: Any) -> None:
            self._rec = rec
            rec.call("Builder", logger)

        def create_network(self, flags: int = 0) -> Network:
            rec.call("create_network", int(flags))
            return Network(int(flags))

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> Any:
            rec.call("build_serialized_network", network, config)
            monitor = object.__getattribute__(config, "progress_monitor")
            if monitor is not None:  # what the real builder reports, in miniature
                monitor.phase_start("Building engine", None, 2)
                monitor.phase_start("Tactic selection", "Building engine", 3)
                for step in range(3):
                    monitor.step_complete("Tactic selection", step)
                monitor.phase_finish("Tactic selection")
                monitor.step_complete("Building engine", 0)
                monitor.step_complete("Building engine", 1)
                monitor.phase_finish("Building engine")
            if config._cache is not None:
                config._cache.entries.append(f"tactic-{len(config._cache.entries)}")
            if len(config.profiles) != 1:
                return None
            profile = config.profiles[0].shapes
            plan = {
                "fake_tensorrt_plan": trt.__version__,
                "io": [[t.name, "INPUT", int(t.dtype), list(t.shape)] for t in network._inputs]
                + [[t.name, "OUTPUT", int(t.dtype), list(t.shape)] for t in network._outputs],
                "profile": {k: [list(s) for s in v] for k, v in profile.items()},
            }
            return json.dumps(plan).encode()  # IHostMemory supports the buffer protocol

    class Inspector(_Recorded):
        def __init__(self, plan: dict[str, Any]) -> None:
            self._rec = rec
            self._plan = plan

        def get_engine_information(self, fmt: Any) -> str:
            rec.call("inspector.get_engine_information", fmt)
            return json.dumps({"Layers": ["conv1 (fake)", "gemm (fake)"], "I/O Tensors": []})

    class Context(_Recorded):
        def __init__(self) -> None:
            self._rec = rec

    class Engine(_Recorded):
        def __init__(self, plan: dict[str, Any]) -> None:
            self._rec = rec
            self._plan = plan
            self._io = {n: (mode, dt, shape) for n, mode, dt, shape in plan["io"]}
            self._names = [row[0] for row in plan["io"]]

        @property
        def num_io_tensors(self) -> int:
            return len(self._names)

        def get_tensor_name(self, i: int) -> str:
            return self._names[i]

        def get_tensor_mode(self, name: str) -> Any:
            return getattr(trt.TensorIOMode, self._io[name][0])

        def get_tensor_dtype(self, name: str) -> Any:
            return [m for m in vars(trt.DataType).values() if m == self._io[name][1]][0]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self._io[name][2])

        def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
            return [tuple(s) for s in self._plan["profile"][name]]

        def create_engine_inspector(self) -> Inspector:
            return Inspector(self._plan)

        def create_execution_context(self) -> Context:
            return Context()

    class Runtime(_Recorded):
        __slots__ = ("_rec", "engine_host_code_allowed")

        def __init__(self, logger: Any) -> None:
            object.__setattr__(self, "_rec", rec)
            object.__setattr__(self, "engine_host_code_allowed", False)  # the default

        def __setattr__(self, name: str, value: Any) -> None:
            if not name.startswith("_"):
                rec.call(f"runtime.{name}=", value)
            object.__setattr__(self, name, value)

        def deserialize_cuda_engine(self, plan: bytes) -> Engine | None:
            rec.call("deserialize_cuda_engine", len(plan))
            try:
                return Engine(json.loads(bytes(plan)))
            except (ValueError, KeyError):
                return None

    def nptype(dtype: Any) -> type:
        return {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8}[dtype.name]

    trt.Builder, trt.OnnxParser, trt.Runtime, trt.nptype = Builder, OnnxParser, Runtime, nptype
    trt.IBuilderConfig, trt.ICudaEngine = BuilderConfig, Engine
    rec.touched.clear()  # what the double touched while assembling itself does not count
    if flavour == "10":  # deprecated in 10.x, removed in 11.x

        def _fast(self: Builder) -> bool:
            rec.touched.append("platform_has_fast_fp16")
            return True

        Builder.platform_has_fast_fp16 = property(_fast)  # type: ignore[attr-defined]
    return trt
