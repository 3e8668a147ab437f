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
the real bindings do.

The fake engine inspector does not decide what any layer runs in: it replays a real engine's
JSON (``INSPECTOR_FIXTURES``, one per precision the ONNX declares, or ``recorder.inspector``).
Those are TensorRT 10.16 / 8.x outputs in the 10.x shape ("Bindings", "Format/Datatype") for both
flavours - no real 11.x output is public (tests/backends/tensorrt/fixtures/README.md) - and their
layer names are those of the recorded models, not of the ONNX being "built".
In both flavours every public attribute read is recorded in ``touched``, and every use made from
vggdeploy's TensorRT package in ``uses`` (with file and line).

Held to the real API: tests/backends/tensorrt/test_real_bindings.py imports the real bindings of
TensorRT 10.0.1, 10.16.1.11, 11.0.0.114 and 11.4.0.106 (scripts/fetch_trt_bindings.py) and checks
that every name, parameter list and enum member (with its value) offered here is the real one of
the newest release of the flavour, and that everything the package uses exists in each release.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from trt_recording import PACKAGE_DIR, Recorder, _enum, _Module, _overrides, _Recorded

from vggdeploy.artifacts.onnx_meta import META_PRECISION, metadata

__all__ = [
    "INSPECTOR_FIXTURES",
    "PACKAGE_DIR",
    "REMOVED_IN_10",
    "REMOVED_IN_11",
    "VERSIONS",
    "Recorder",
    "make_tensorrt",
]

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


# Enum members with their values, as in the real bindings of the newest release of each flavour
# (TensorRT 10.16.1.11 and 11.4.0.106; test_real_bindings.py holds the double to them).
_FLAGS_10 = {"FP16": 0, "BF16": 17, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4}
_FLAGS_10 |= {"DISABLE_TIMING_CACHE": 5, "EDITABLE_TIMING_CACHE": 27, "TF32": 6}
_FLAGS_10 |= {"SPARSE_WEIGHTS": 7, "SAFETY_SCOPE": 8, "OBEY_PRECISION_CONSTRAINTS": 9}
_FLAGS_10 |= {"PREFER_PRECISION_CONSTRAINTS": 10, "DIRECT_IO": 11, "REJECT_EMPTY_ALGORITHMS": 12}
_FLAGS_10 |= {"VERSION_COMPATIBLE": 13, "EXCLUDE_LEAN_RUNTIME": 14, "FP8": 15}
_FLAGS_10 |= {"ERROR_ON_TIMING_CACHE_MISS": 16, "DISABLE_COMPILATION_CACHE": 18}
_FLAGS_10 |= {"WEIGHTLESS": 19, "STRIP_PLAN": 19, "REFIT_IDENTICAL": 20, "WEIGHT_STREAMING": 21}
_FLAGS_10 |= {"INT4": 22, "REFIT_INDIVIDUAL": 23, "STRICT_NANS": 24, "MONITOR_MEMORY": 25}
_FLAGS_10 |= {"FP4": 26, "DISTRIBUTIVE_INDEPENDENCE": 28}
_FLAGS_11 = {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "DISABLE_TIMING_CACHE": 5}
_FLAGS_11 |= {"EDITABLE_TIMING_CACHE": 26, "TF32": 6, "SPARSE_WEIGHTS": 7, "SAFETY_SCOPE": 8}
_FLAGS_11 |= {"DIRECT_IO": 11, "VERSION_COMPATIBLE": 12, "EXCLUDE_LEAN_RUNTIME": 13}
_FLAGS_11 |= {"ERROR_ON_TIMING_CACHE_MISS": 15, "DISABLE_COMPILATION_CACHE": 17, "STRIP_PLAN": 18}
_FLAGS_11 |= {"REFIT_IDENTICAL": 19, "WEIGHT_STREAMING": 20, "REFIT_INDIVIDUAL": 22}
_FLAGS_11 |= {"STRICT_NANS": 23, "MONITOR_MEMORY": 24, "DISTRIBUTIVE_INDEPENDENCE": 27}
_CREATION_10 = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
_CREATION_10 |= {"PREFER_AOT_PYTHON_PLUGINS": 3, "PREFER_JIT_PYTHON_PLUGINS": 2}
# 11.x: STRONGLY_TYPED kept for API compatibility (ignored), EXPLICIT_BATCH removed
_CREATION_11 = {"STRONGLY_TYPED": 0, "PREFER_AOT_PYTHON_PLUGINS": 2, "PREFER_JIT_PYTHON_PLUGINS": 1}
_DATA_TYPES = {"FLOAT": 0, "HALF": 1, "BF16": 7, "INT8": 2, "INT32": 3, "INT64": 8, "BOOL": 4}
_DATA_TYPES |= {"UINT8": 5, "FP8": 6, "INT4": 9, "FP4": 10, "E8M0": 11}
_POOLS = {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2, "DLA_GLOBAL_DRAM": 3}
_POOLS |= {"TACTIC_DRAM": 4, "TACTIC_SHARED_MEMORY": 5}
_SEVERITIES = {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4}
VERSIONS = {"10": "10.16.1.11", "11": "11.4.0.106"}
# What the fake engine inspector replays: a REAL engine's JSON (tests/backends/tensorrt/fixtures/,
# sources in its README), chosen by the precision the ONNX file declares - never per layer, and
# never by the precision gate's own rule. Tests that want another answer (an FP32 engine for an
# fp16 build: a fallback) put the JSON in ``recorder.inspector``.
FIXTURES = Path(__file__).resolve().parent / "backends" / "tensorrt" / "fixtures"
INSPECTOR_FIXTURES = {
    "fp32": FIXTURES / "trt10.16.1-h100-mnist-fp32.trtexec.json",
    "fp16": FIXTURES / "trt8-a100-resnet18-fp16.trex.json",
    "int8": FIXTURES / "trt8-mobilenetv2-qat-int8.trex.json",
}


def declared_precision(model: Any) -> str:
    """The precision the export stage recorded in the ONNX (fp32 when none is)."""
    return metadata(model).get(META_PRECISION, "fp32")


def names_only(info: str) -> str:
    """The same engine's inspector JSON as ProfilingVerbosity.LAYER_NAMES_ONLY writes it."""
    data = json.loads(info)
    names = [layer["Name"] if isinstance(layer, dict) else layer for layer in data["Layers"]]
    return json.dumps({**data, "Layers": names})


def make_tensorrt(flavour: str, version: str | None = None) -> ModuleType:
    """A fresh fake ``tensorrt`` module for ``flavour`` "10" or "11" with its own Recorder.

    ``version`` only changes ``__version__`` (default: the newest release the flavour mimics)."""
    if flavour not in ("10", "11"):
        raise ValueError(flavour)
    rec = Recorder()
    trt = _Module("tensorrt")
    trt.recorder = rec
    trt.__version__ = version or VERSIONS[flavour]

    trt.BuilderFlag = _enum(rec, "BuilderFlag", _FLAGS_10 if flavour == "10" else _FLAGS_11)
    creation = _CREATION_10 if flavour == "10" else _CREATION_11
    trt.NetworkDefinitionCreationFlag = _enum(rec, "NetworkDefinitionCreationFlag", creation)
    trt.MemoryPoolType = _enum(rec, "MemoryPoolType", _POOLS)
    trt.HardwareCompatibilityLevel = _enum(
        rec,
        "HardwareCompatibilityLevel",
        {"NONE": 0, "AMPERE_PLUS": 1, "SAME_COMPUTE_CAPABILITY": 2},
    )
    trt.ProfilingVerbosity = _enum(
        rec, "ProfilingVerbosity", {"LAYER_NAMES_ONLY": 0, "NONE": 1, "DETAILED": 2}
    )
    trt.LayerInformationFormat = _enum(rec, "LayerInformationFormat", {"ONELINE": 0, "JSON": 1})
    trt.TensorIOMode = _enum(rec, "TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    trt.DataType = _enum(rec, "DataType", _DATA_TYPES)

    class ILogger:
        Severity = _enum(rec, "Severity", _SEVERITIES, path="ILogger.Severity")
        __init_subclass__ = _overrides(rec, "ILogger")

        def __init__(self) -> None:
            pass

        def log(self, severity: Any, msg: str) -> None:
            pass

    class Logger(ILogger):
        WARNING = ILogger.Severity.WARNING

        def __init__(self, min_severity: Any = None) -> None:
            super().__init__()

        def log(self, severity: Any, msg: str) -> None:
            pass

    class IProgressMonitor:
        __init_subclass__ = _overrides(rec, "IProgressMonitor")

        def __init__(self) -> None:
            pass

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            pass

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True

        def phase_finish(self, phase_name: str) -> None:
            pass

    trt.ILogger, trt.Logger, trt.IProgressMonitor = ILogger, Logger, IProgressMonitor

    onnx_dtypes = {1: trt.DataType.FLOAT, 10: trt.DataType.HALF, 3: trt.DataType.INT8}

    class Tensor(_Recorded):
        __slots__ = ("_rec", "_name", "_shape", "_dtype")
        _real = "ITensor"

        def __init__(self, name: str, shape: tuple[int, ...], dtype: Any) -> None:
            self._rec = rec
            self._name, self._shape, self._dtype = name, shape, dtype

        name = property(lambda self: self._name)
        shape = property(lambda self: self._shape)
        dtype = property(lambda self: self._dtype)

    class Network(_Recorded):
        _real = "INetworkDefinition"

        def __init__(self, flags: int) -> None:
            self._rec = rec
            self._flags = flags
            self._inputs: list[Tensor] = []
            self._outputs: list[Tensor] = []
            self._precision = "fp32"

        @property
        def num_inputs(self) -> int:
            return len(self._inputs)

        @property
        def num_outputs(self) -> int:
            return len(self._outputs)

        def get_input(self, index: int) -> Tensor:
            return self._inputs[index]

        def get_output(self, index: int) -> Tensor:
            return self._outputs[index]

    class OnnxParser(_Recorded):
        _real = "OnnxParser"

        def __init__(self, network: Network, logger: Any) -> None:
            self._rec = rec
            self._network = network
            self._errors: list[str] = []

        def parse_from_file(self, model: str) -> bool:
            import onnx

            path = model
            rec.call("parse_from_file", path)
            if "parse_from_file" in rec.fail:
                self._errors.append("fake parser: failure requested by the test")
                return False
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
            self._network._precision = declared_precision(model)
            return True

        @property
        def num_errors(self) -> int:
            return len(self._errors)

        def get_error(self, index: int) -> str:
            return self._errors[index]

    class OptimizationProfile(_Recorded):
        _real = "IOptimizationProfile"

        def __init__(self) -> None:
            self._rec = rec
            self._shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:
            rec.call("profile.set_shape", input, tuple(min), tuple(opt), tuple(max))
            self._shapes[input] = (tuple(min), tuple(opt), tuple(max))

        def get_shape(self, input: str) -> list[tuple[int, ...]]:
            return list(self._shapes.get(input, ()))

    class TimingCache(_Recorded):
        _real = "ITimingCache"

        def __init__(self, blob: bytes) -> None:
            self._rec = rec
            self._entries = json.loads(blob[len(b"TCACHE") :]) if blob else []

        def serialize(self) -> bytes:
            rec.call("timing_cache.serialize")
            return b"TCACHE" + json.dumps(self._entries).encode()

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
        _real = "IBuilderConfig"
        __slots__ = ("_rec", "_flags_set", "_profiles", "_pools", "_cache", *config_attrs)

        def __init__(self) -> None:
            self._rec = rec
            self._flags_set: list[Any] = []
            self._profiles: list[OptimizationProfile] = []
            self._pools: dict[Any, int] = {}
            self._cache: TimingCache | None = None
            for k, v in config_attrs.items():
                object.__setattr__(self, k, v)

        def __setattr__(self, name: str, value: Any) -> None:
            if not name.startswith("_"):
                rec.call(f"config.{name}=", value)
                rec.use("set", "IBuilderConfig", name)
            object.__setattr__(self, name, value)  # AttributeError for names not in __slots__

        def set_flag(self, flag: Any) -> None:
            rec.call("config.set_flag", flag)
            self._flags_set.append(flag)

        def get_flag(self, flag: Any) -> bool:
            return flag in self._flags_set

        def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
            rec.call("config.set_memory_pool_limit", pool, pool_size)
            self._pools[pool] = pool_size

        def get_memory_pool_limit(self, pool: Any) -> int:
            return self._pools.get(pool, 0)  # the real default is the device's memory

        @property
        def num_optimization_profiles(self) -> int:
            return len(self._profiles)

        def add_optimization_profile(self, profile: OptimizationProfile) -> int:
            rec.call("config.add_optimization_profile", profile)
            self._profiles.append(profile)
            return len(self._profiles) - 1

        def create_timing_cache(self, serialized_timing_cache: bytes) -> TimingCache:
            blob = bytes(serialized_timing_cache)
            rec.call("config.create_timing_cache", blob)
            if blob and not blob.startswith(b"TCACHE"):
                raise RuntimeError("invalid timing cache")
            return TimingCache(blob)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            rec.call("config.set_timing_cache", cache, ignore_mismatch)
            self._cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self._cache

    class Builder(_Recorded):
        _real = "Builder"

        def __init__(self, logger: Any) -> None:
            self._rec = rec
            self._logger = logger
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
            self._logger.log(ILogger.Severity.VERBOSE, "fake builder: building")
            if "build_serialized_network" in rec.fail:
                self._logger.log(ILogger.Severity.ERROR, "fake builder: failure requested")
                return None
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
                config._cache._entries.append(f"tactic-{len(config._cache._entries)}")
            if len(config._profiles) != 1:
                return None
            profile = config._profiles[0]._shapes
            plan = {
                "fake_tensorrt_plan": trt.__version__,
                "io": [[t.name, "INPUT", int(t.dtype), list(t.shape)] for t in network._inputs]
                + [[t.name, "OUTPUT", int(t.dtype), list(t.shape)] for t in network._outputs],
                "profile": {k: [list(s) for s in v] for k, v in profile.items()},
                "inspector": rec.inspector or INSPECTOR_FIXTURES[network._precision].read_text(),
                "detailed": object.__getattribute__(config, "profiling_verbosity")
                == trt.ProfilingVerbosity.DETAILED,
            }
            return json.dumps(plan).encode()  # IHostMemory supports the buffer protocol

    class Inspector(_Recorded):
        _real = "EngineInspector"

        def __init__(self, plan: dict[str, Any]) -> None:
            self._rec = rec
            self._plan = plan

        def get_engine_information(self, format: Any) -> str:
            rec.call("inspector.get_engine_information", format)
            info = (
                self._plan["inspector"]
                if self._plan["detailed"]
                else names_only(self._plan["inspector"])
            )
            if format != trt.LayerInformationFormat.JSON:
                return "\n".join(str(name) for name in json.loads(names_only(info))["Layers"])
            return info

    class Context(_Recorded):
        _real = "IExecutionContext"

        def __init__(self) -> None:
            self._rec = rec
            self._addresses: dict[str, int] = {}
            self._shapes: dict[str, tuple[int, ...]] = {}

        def set_tensor_address(self, name: str, memory: int) -> bool:
            rec.call("context.set_tensor_address", name, memory)
            self._addresses[name] = int(memory)
            return True

        def set_input_shape(self, name: str, shape: Any) -> bool:
            rec.call("context.set_input_shape", name, tuple(shape))
            self._shapes[name] = tuple(shape)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            rec.call("context.execute_async_v3", stream_handle)
            return set(self._addresses) >= set(self._shapes)

    class Engine(_Recorded):
        _real = "ICudaEngine"

        def __init__(self, plan: dict[str, Any]) -> None:
            self._rec = rec
            self._plan = plan
            self._io = {n: (mode, dt, shape) for n, mode, dt, shape in plan["io"]}
            self._names = [row[0] for row in plan["io"]]

        @property
        def num_io_tensors(self) -> int:
            return len(self._names)

        def get_tensor_name(self, index: int) -> str:
            return self._names[index]

        def get_tensor_mode(self, name: str) -> Any:
            return getattr(trt.TensorIOMode, self._io[name][0])

        def get_tensor_dtype(self, name: str) -> Any:
            return [m for m in vars(trt.DataType).values() if m == self._io[name][1]][0]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self._io[name][2])

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
            return [tuple(s) for s in self._plan["profile"][name]]

        def create_engine_inspector(self) -> Inspector:
            return Inspector(self._plan)

        def create_execution_context(self) -> Context | None:
            return None if "create_execution_context" in rec.fail else Context()

    class Runtime(_Recorded):
        __slots__ = ("_rec", "engine_host_code_allowed")
        _real = "Runtime"

        def __init__(self, logger: Any) -> None:
            object.__setattr__(self, "_rec", rec)
            object.__setattr__(self, "engine_host_code_allowed", False)  # the default

        def __setattr__(self, name: str, value: Any) -> None:
            if not name.startswith("_"):
                rec.call(f"runtime.{name}=", value)
                rec.use("set", "Runtime", name)
            object.__setattr__(self, name, value)

        def deserialize_cuda_engine(self, serialized_engine: bytes) -> Engine | None:
            plan = serialized_engine
            rec.call("deserialize_cuda_engine", len(plan))
            if "deserialize_cuda_engine" in rec.fail:
                return None
            try:
                return Engine(json.loads(bytes(plan)))
            except (ValueError, KeyError):
                return None

    def nptype(dtype: Any) -> type:
        return {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8}[dtype.name]

    trt.Builder, trt.OnnxParser, trt.Runtime, trt.nptype = Builder, OnnxParser, Runtime, nptype
    trt.IBuilderConfig, trt.ICudaEngine = BuilderConfig, Engine
    trt.INetworkDefinition, trt.ITensor, trt.IOptimizationProfile = (
        Network,
        Tensor,
        OptimizationProfile,
    )
    trt.ITimingCache, trt.EngineInspector, trt.IExecutionContext = TimingCache, Inspector, Context
    for cls in (Tensor, Network, OnnxParser, OptimizationProfile, TimingCache, BuilderConfig):
        cls._recorder = rec
    for cls in (Builder, Inspector, Context, Engine, Runtime):
        cls._recorder = rec
    rec.touched.clear()  # what the double touched while assembling itself does not count
    if flavour == "10":  # deprecated in 10.x, removed in 11.x

        def _fast(self: Builder) -> bool:
            rec.touched.append("platform_has_fast_fp16")
            return True

        Builder.platform_has_fast_fp16 = property(_fast)  # type: ignore[attr-defined]
    return trt
