"""What the TensorRT backend needs from the machine: the tensorrt module, a CUDA GPU, a logger.

Kept apart from the build and run code so both report a missing package (exit 5) or a missing GPU
(exit 6) the same way, and so tests can replace the device probe.
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType
from typing import Any

from vggdeploy._optional import require
from vggdeploy.backends.base import parse_device
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, version_tuple
from vggdeploy.errors import BackendUnavailableError, MissingDependencyError, UsageError

log = logging.getLogger("vggdeploy.tensorrt")

INSTALL_HINT = (
    "pip install tensorrt  (NVIDIA's wheels on PyPI; needs an NVIDIA GPU and driver), or "
    "pip install 'vggdeploy[tensorrt]'. Without TensorRT, build an AOTInductor package instead: "
    "vggdeploy build-engine RUN --backend inductor"
)


def require_tensorrt(purpose: str = "TensorRT engines") -> ModuleType:
    """The tensorrt module, or MissingDependencyError (exit 5) saying how to install it."""
    try:
        trt = require("tensorrt", extra="tensorrt", purpose=purpose)
    except MissingDependencyError as exc:
        raise MissingDependencyError(
            f"TensorRT not available: the 'tensorrt' Python package could not be imported "
            f"({exc.__cause__ or exc.message}); it is needed for {purpose}",
            hint=INSTALL_HINT,
        ) from exc
    if version_tuple(getattr(trt, "__version__", "0"))[:1] < (10,):
        raise MissingDependencyError(
            f"TensorRT {getattr(trt, '__version__', '?')} is too old: vggdeploy needs TensorRT 10 "
            "or 11 (name-based tensor API, strongly typed networks)",
            hint="pip install -U tensorrt",
        )
    return trt


def trt_major(trt: ModuleType) -> int:
    return version_tuple(trt.__version__)[0]


def cuda_index(device: Any) -> int:
    """0, "cuda", "cuda:1" -> CUDA device index; UsageError for cpu or anything else."""
    parsed = parse_device(device, default="cuda")
    if parsed.type != "cuda":
        raise UsageError(f"TensorRT runs on CUDA devices, not '{device}'", hint="--device cuda:0")
    return parsed.cuda_index


def cuda_device_info(index: int = 0) -> DeviceInfo:
    """Name and compute capability of CUDA device ``index`` (BackendUnavailableError if none)."""
    import torch

    if not torch.cuda.is_available():
        why = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible (driver missing, or CUDA_VISIBLE_DEVICES hides it)"
        )
        raise BackendUnavailableError(
            f"TensorRT needs an NVIDIA GPU, but {why}",
            hint="run on a machine with an NVIDIA GPU and a CUDA build of PyTorch, or use "
            "--backend inductor --device cpu / the onnxruntime backend on CPU",
        )
    if index >= torch.cuda.device_count():
        raise BackendUnavailableError(
            f"CUDA device {index} does not exist ({torch.cuda.device_count()} visible)",
            hint="pick an existing device index",
        )
    major, minor = torch.cuda.get_device_capability(index)
    return DeviceInfo(torch.cuda.get_device_name(index), (int(major), int(minor)))


def make_logger(trt: ModuleType) -> Any:
    """A tensorrt ILogger that forwards to Python logging and keeps the errors for messages."""

    class _Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self._lock = threading.Lock()

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR):
                with self._lock:
                    self.errors.append(str(msg))
                log.error("TensorRT: %s", msg)
            elif severity == sev.WARNING:
                log.warning("TensorRT: %s", msg)
            elif severity == sev.INFO:
                log.info("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return _Logger()
