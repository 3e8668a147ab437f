"""Backends: one module per runtime, each with everything about it (build, load, run).

``registry.BACKENDS`` describes every backend (runner, artifacts, thread safety, inspection);
``base`` holds the Runner contract and ``open_runner``. Importing this package (or its registry)
imports no runtime and not even NumPy; ``Runner`` / ``open_runner`` load ``base`` on first use.
"""

from __future__ import annotations

from typing import Any

from vggdeploy.backends.registry import BACKENDS, BackendInfo, backend_for_path

__all__ = ["BACKENDS", "BackendInfo", "Runner", "backend_for_path", "open_runner"]


def __getattr__(name: str) -> Any:
    if name in ("Runner", "open_runner"):
        from vggdeploy.backends import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
