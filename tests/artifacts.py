"""Small ONNX artifacts shared by the tests: an fp32 model with dynamic batch and the ModelSpec in
its metadata (TorchScript exporter: under a second, where `vggdeploy export`'s dynamo export and
verification take several; test_export.py covers that path), and an INT8 Q/DQ model from ONNX
Runtime's static quantizer with a tiny calibration set."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def export_fp32(run: Path, out: Path | None = None) -> Path:
    """``run``'s checkpoint as ONNX at ``out`` (default ``run/model.onnx``)."""
    import onnx
    import torch

    from vggdeploy.checkpoint import load_checkpoint
    from vggdeploy.onnxmeta import set_spec_metadata

    out = Path(out) if out is not None else Path(run) / "model.onnx"
    model, spec = load_checkpoint(run)
    example = torch.zeros(spec.input.shape(2))
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but fast and small
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(torch, model, example, out, spec)
    proto = onnx.load(str(out))
    set_spec_metadata(proto, spec)
    onnx.save(proto, str(out))
    return out


def _export(torch, model, example, out: Path, spec) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(out),
        input_names=[spec.input.name],
        output_names=[spec.output_name],
        dynamic_axes={spec.input.name: {0: "batch"}, spec.output_name: {0: "batch"}},
        dynamo=False,
    )


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
