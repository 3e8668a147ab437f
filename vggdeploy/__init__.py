"""vggdeploy: train a VGG on Fashion-MNIST, export ONNX, build TensorRT/AOTInductor engines,
benchmark PyTorch / ONNX Runtime / TensorRT, and serve from Python or C++.

Importing this package is cheap: torch, onnx and every optional backend load on first use.
"""

from __future__ import annotations

from vggdeploy._version import __version__

__all__ = ["__version__", "load"]


def load(path, **options):  # type: ignore[no-untyped-def]
    """Open a model artifact (run folder, .onnx, .engine, .pt2) as a ready ``Predictor``.

    ``vggdeploy.load("runs/mini").predict(images)``; see :func:`vggdeploy.serve.predictor.load`
    for the options. Imported on first call so that ``import vggdeploy`` stays cheap.
    """
    from vggdeploy.serve.predictor import load as _load

    return _load(path, **options)
