"""Small ONNX artifacts shared by the tests, made by the library's own export
(:func:`vggdeploy.export.export_checkpoint`: torch.onnx dynamo export, checks, onnxslim) without
its PyTorch verification (test_export.py covers that). An export takes seconds, so each checkpoint
is exported once per test session and the bytes are reused; ``quantize_int8`` is ONNX Runtime's
static quantizer with a tiny calibration set (bench tests)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

_EXPORTED: dict[str, bytes] = {}  # sha256 of (model.json, model.safetensors) -> ONNX bytes


def export_fp32(run: Path, out: Path | None = None) -> Path:
    """``run``'s checkpoint as ONNX at ``out`` (default ``run/model.onnx``); only that file is
    written (no report)."""
    from vggdeploy.checkpoint import read_checkpoint, resolve_checkpoint
    from vggdeploy.export import export_checkpoint

    out = Path(out) if out is not None else Path(run) / "model.onnx"
    digest = hashlib.sha256()
    for f in resolve_checkpoint(run):
        digest.update(f.read_bytes())
    key = digest.hexdigest()
    if key not in _EXPORTED:
        with tempfile.TemporaryDirectory(prefix="vggdeploy-test-export.") as work:
            _, blob = export_checkpoint(
                read_checkpoint(run), Path(work) / "model.onnx", test_images=None
            )
        _EXPORTED[key] = blob
    out.write_bytes(_EXPORTED[key])
    return out


def quantize_int8(fp32: Path, out: Path, calibration: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from vggdeploy.onnxmeta import read_onnx_spec

    spec = read_onnx_spec(fp32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{spec.input.name: calibration[i : i + 8]} for i in (0, 8)])

        def get_next(self):
            return next(self._batches, None)

    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ)
    return out


def calibration_batch(spec, n: int = 16, seed: int = 0) -> np.ndarray:
    from vggdeploy.data.preprocess import preprocess

    rng = np.random.default_rng(seed)
    return preprocess(rng.integers(0, 255, (n, 28, 28)).astype(np.uint8), spec)
