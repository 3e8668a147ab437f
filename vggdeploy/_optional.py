"""Lazy imports of optional heavy dependencies with an actionable error when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from vggdeploy.errors import MissingDependencyError

# module name -> pip requirement that provides it
_INSTALL = {
    "tensorrt": "tensorrt",
    "modelopt": "nvidia-modelopt[onnx]",
    "torchvision": "torchvision",
    "onnxslim": "onnxslim",
    "matplotlib": "matplotlib",
    "PIL": "pillow",
    "tritonclient": "tritonclient[grpc]",
}


def require(module: str, *, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # also catches a broken install (e.g. torchvision vs CPU torch)
        top = module.split(".")[0]
        package = _INSTALL.get(top, top)
        if extra:
            how = f"pip install 'vggdeploy[{extra}]'  (or: pip install '{package}')"
        else:
            how = f"pip install '{package}'"
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the optional package '{top}' is needed{what} but could not be imported ({exc})",
            hint=how,
        ) from exc
