"""vggdeploy: train a VGG on Fashion-MNIST, export ONNX, build TensorRT/AOTInductor engines,
benchmark PyTorch / ONNX Runtime / TensorRT, and serve from Python or C++.

Importing this package is cheap: torch, onnx and every optional backend load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
