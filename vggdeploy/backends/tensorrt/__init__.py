"""The TensorRT backend, one package: ``runner`` (load + run engines), ``build`` (ONNX -> network
-> ``config`` -> plan + sidecar), ``gate`` / ``layer_precision`` (what each layer of a built plan
runs in), ``sidecar`` (the one owner of the engine sidecar format, ``sidecar.schema.json``),
``compat`` (which plans load on which TensorRT and GPU; cases in ``compat_cases.json``),
``describe`` (what an engine file is, for inspect / bench / Triton), ``env`` (importing tensorrt,
CUDA device facts), ``onnx`` (which ONNX file an engine is built from).

Nothing here imports ``tensorrt`` at module level.
"""

from vggdeploy.backends.tensorrt.build import build_engine, default_engine_path, parse_size
from vggdeploy.backends.tensorrt.config import ProgressEvent
from vggdeploy.backends.tensorrt.describe import (
    EngineIO,
    build_summary,
    engine_io,
    engine_precision,
    inspect_engine,
)
from vggdeploy.backends.tensorrt.runner import LoadedEngine, TensorRTRunner, load_engine
from vggdeploy.backends.tensorrt.sidecar import sidecar_path

__all__ = [
    "EngineIO",
    "LoadedEngine",
    "ProgressEvent",
    "TensorRTRunner",
    "build_engine",
    "build_summary",
    "default_engine_path",
    "engine_io",
    "engine_precision",
    "inspect_engine",
    "load_engine",
    "parse_size",
    "sidecar_path",
]
