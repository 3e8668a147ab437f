"""INT8 with explicit Q/DQ via ONNX Runtime's static quantization, calibrated on the TRAIN split.

Two targets from one calibration:

* ``tensorrt`` -> ``model.int8.onnx``: QDQ format, signed INT8 symmetric activations and
  per-channel symmetric weights (zero points 0), Q/DQ only on the inputs of Conv and Gemm with FP32
  biases; that is the placement TensorRT's explicit-quantization mode fuses (it folds the Relu
  and moves Q/DQ across MaxPool itself), as in NVIDIA's Q/DQ guidance.
* ``cpu`` -> ``model.int8-cpu.onnx``: the form measured fastest with ONNX Runtime's CPU provider
  (see benchmarks/EXPORT.md): QDQ, U8 activations / S8 per-channel weights, every supported op
  quantized so ORT fuses QLinearConv / QGemm chains.

Calibration ranges are cached in ``calibration-<method>.json`` next to the model, keyed by the
sha256 of the FP32 model, of the calibration tensor, the method and the sample count.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy._io import Log, sha256_bytes, write_json
from vggdeploy.artifacts.run_folder import calibration_cache
from vggdeploy.artifacts.variants import INT8_TARGETS
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.spec import ModelSpec

CALIB_METHODS = ("entropy", "percentile", "minmax")
# percentile (99.999 %, symmetric): best INT8 agreement with FP32 on vgg-mini for both targets;
# entropy clipped too hard (-1.1 pt for the CPU form), see benchmarks/EXPORT.md.
DEFAULT_CALIB_METHOD = "percentile"
DEFAULT_CALIB_SIZE = 512
CALIB_SEED = 0
# TensorRT fuses these with Q/DQ on their inputs; everything else runs on dequantized values.
TENSORRT_QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
# Calibrator settings. ORT's entropy default (128 histogram bins, 128 quantized bins) leaves a
# single candidate threshold, i.e. plain min/max; 2048 bins searched down to 128 levels is the
# KL-divergence calibration TensorRT describes.
CALIB_OPTIONS: dict[str, dict[str, Any]] = {
    "entropy": {"num_bins": 2048, "num_quantized_bins": 128},
    "percentile": {"num_bins": 2048, "percentile": 99.999},
    "minmax": {},
}


def calibration_images(
    spec: ModelSpec,
    data_dir: str | os.PathLike[str] | None,
    size: int = DEFAULT_CALIB_SIZE,
) -> np.ndarray:
    """``size`` preprocessed images sampled (fixed seed) from the TRAIN split; never the test
    split, so INT8 accuracy measured on the test split stays honest."""
    from vggdeploy.data import load_split, preprocess

    if not isinstance(size, int) or size < 1:
        raise UsageError(f"--calib-size must be >= 1, got {size}")
    split = load_split("train", data_dir)
    if len(split) == 0:
        raise UsageError(f"the train split in '{split.root}' is empty: nothing to calibrate on")
    rng = np.random.default_rng(CALIB_SEED)
    idx = np.sort(rng.choice(len(split), size=min(size, len(split)), replace=False))
    return preprocess(split.images[idx], spec)


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    table = {
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
        "minmax": CalibrationMethod.MinMax,
    }
    if name not in table:
        raise UsageError(f"unknown --calib-method {name!r}", hint=f"use one of {CALIB_METHODS}")
    return table[name]


class _BatchReader:
    """ORT CalibrationDataReader over an in-memory array (duck-typed: get_next / rewind)."""

    def __init__(self, name: str, x: np.ndarray, batch: int = 64) -> None:
        self.name, self.x, self.batch, self.pos = name, x, batch, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= len(self.x):
            return None
        chunk = self.x[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return {self.name: chunk}

    def rewind(self) -> None:
        self.pos = 0

    def __len__(self) -> int:
        return len(self.x)


@contextlib.contextmanager
def _quiet_ort():
    # quantize_static warns that the model was not pre-processed: the torch exporter already
    # folded BatchNorm and constants, and shape inference runs in check_onnx.
    # The calibrators also print progress with print().
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


# ORT's calibrators keep every calibrated tensor of every batch given to one collect_data() call
# in memory before they histogram it (512 images of d2l-vgg11 at 224x224: ~30 GB). Calibration
# hands them at most this many bytes of tensors per call; the histograms merge across calls.
COLLECT_BUDGET_BYTES = 1 << 30


def _images_per_collect(calibrator: Any, input_name: str, calib: np.ndarray) -> int:
    """How many images one collect_data() call may take: the bytes one image's calibrated tensors
    take (measured by running the calibrator's own augmented model on one image) within
    :data:`COLLECT_BUDGET_BYTES`. Models whose whole calibration set fits take it in one call,
    as before."""
    outputs = calibrator.infer_session.run(None, {input_name: calib[:1]})
    per_image = max(1, sum(int(np.asarray(o).nbytes) for o in outputs))
    return int(min(len(calib), max(1, COLLECT_BUDGET_BYTES // per_image)))


def calibrate(
    fp32: bytes,
    calib: np.ndarray,
    *,
    method: str,
    cache_dir: Path,
    input_name: str,
    log: Log,
) -> tuple[Path, dict[str, Any]]:
    """ORT calibration ranges for every tensor of the FP32 model (serialized ONNX ``fp32``, read
    once by the caller) as an ORT cache file (a temp file; delete it after use) and the cache key.
    Reuses ``cache_dir/calibration-<method>.json`` when its key matches; otherwise calibrates and
    rewrites it."""
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    key = {
        "model_sha256": sha256_bytes(fp32),
        "data_sha256": sha256_bytes(np.ascontiguousarray(calib).tobytes()),
        "method": method,
        "options": CALIB_OPTIONS[method],
        "size": int(len(calib)),
        "split": "train",
        "seed": CALIB_SEED,
        "collect_budget_bytes": COLLECT_BUDGET_BYTES,  # with model and data: how it was gathered
    }
    cache = calibration_cache(cache_dir, method)
    fd, tmp = tempfile.mkstemp(prefix=".ort-calib.", suffix=".json", dir=cache_dir)
    os.close(fd)
    tmp_path = Path(tmp)
    if cache.is_file():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                tmp_path.write_text(json.dumps(stored["ranges"]))
                log(f"calibration: reusing {cache.name} ({method}, {len(calib)} train images)")
                return tmp_path, {**key, "cache": str(cache), "reused": True}
            log(f"calibration: {cache.name} is for another model/data; recalibrating")
        except (OSError, ValueError, KeyError, TypeError):
            log(f"calibration: {cache.name} is unreadable; recalibrating")
    try:
        with tempfile.TemporaryDirectory(prefix="vggdeploy-calib.") as work, _quiet_ort():
            model_path = Path(work) / "fp32.onnx"  # ORT's calibrator takes only a path
            model_path.write_bytes(fp32)
            calibrator = create_calibrator(
                model_path,
                None,  # every float tensor, so both targets' op selections find their ranges
                augmented_model_path=str(Path(work) / "augmented.onnx"),
                calibrate_method=_method(method),
                providers=["CPUExecutionProvider"],
                extra_options=dict(CALIB_OPTIONS[method]),
            )
            chunk = _images_per_collect(calibrator, input_name, calib)
            for start in range(0, len(calib), chunk):
                calibrator.collect_data(_BatchReader(input_name, calib[start : start + chunk]))
            ranges = calibrator.compute_data()
            del calibrator
        tmp_path.unlink(missing_ok=True)
        save_tensors_data(ranges, tmp_path)
        write_json(cache, {"key": key, "ranges": json.loads(tmp_path.read_text())})
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    passes = f", {-(-len(calib) // chunk)} passes of {chunk}" if chunk < len(calib) else ""
    log(f"calibration: {method} on {len(calib)} train images{passes} -> {cache.name}")
    return tmp_path, {**key, "cache": str(cache), "reused": False}


def quantize_int8(
    fp32: bytes,
    ranges_path: Path,
    *,
    target: str,
    method: str,
    keep_fp32: Sequence[str] = (),
) -> Any:
    """The INT8 ModelProto for ``target`` (from serialized FP32 ONNX ``fp32``), quantized with
    cached calibration ranges; the nodes named in ``keep_fp32`` stay FP32 (validated names:
    ``vggdeploy.export.keep``)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if target == "tensorrt":
        settings: dict[str, Any] = dict(
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(TENSORRT_QUANTIZED_OPS),
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            extra_options={
                "ActivationSymmetric": True,
                "WeightSymmetric": True,
                "QuantizeBias": False,  # TensorRT wants FP32 bias; it fuses it into the kernel
                "OpTypesToExcludeOutputQuantization": list(TENSORRT_QUANTIZED_OPS),
            },
        )
    elif target == "cpu":
        settings = dict(
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options={"WeightSymmetric": True},
        )
    else:
        raise UsageError(f"unknown --target {target!r}", hint=f"use one of {tuple(INT8_TARGETS)}")
    with tempfile.TemporaryDirectory(prefix="vggdeploy-q.") as work, _quiet_ort():
        tmp_out = Path(work) / "q.onnx"
        try:
            quantize_static(
                onnx.load_from_string(fp32),  # a fresh copy: the quantizer may change it
                str(tmp_out),
                calibration_data_reader=None,
                per_channel=True,
                # 7-bit weights for the CPU form: ONNX Runtime's u8s8 kernels on x86 CPUs without
                # VNNI (AVX2 only) saturate 16-bit pair sums with 8-bit weights. Measured on the
                # default model, AMD EPYC (Zen 3, AVX2): agreement with FP32 98.70 % -> 99.79 %.
                reduce_range=(target == "cpu"),
                calibrate_method=_method(method),
                calibration_cache_path=str(ranges_path),
                nodes_to_exclude=list(keep_fp32),
                **settings,
            )
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ArtifactError(f"INT8 quantization ({target}) failed: {exc}") from exc
        return onnx.load(str(tmp_out))
