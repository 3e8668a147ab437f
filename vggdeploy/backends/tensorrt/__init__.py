"""The TensorRT backend, one package: ``runner`` (load + run engines), ``build`` (ONNX -> plan +
sidecar), ``sidecar`` (the one owner of the engine sidecar format, ``sidecar.schema.json``),
``compat`` (which plans load on which TensorRT and GPU; cases in ``compat_cases.json``), ``env``
(importing tensorrt, CUDA device facts), ``onnx`` (which ONNX file an engine is built from).

Nothing here imports ``tensorrt`` at module level; the entry points are re-exported lazily-safe.
"""

from .runner import (
    LoadedEngine,
    ProgressEvent,
    TensorRTRunner,
    build_engine,
    default_engine_path,
    inspect_engine,
    load_engine,
    parse_size,
    sidecar_path,
)

__all__ = [
    "LoadedEngine",
    "ProgressEvent",
    "TensorRTRunner",
    "build_engine",
    "default_engine_path",
    "inspect_engine",
    "load_engine",
    "parse_size",
    "sidecar_path",
]
