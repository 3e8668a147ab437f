"""Which INT8 form is fastest on ONNX Runtime's CPU provider? (picks vggdeploy's `--target cpu`)

Quantizes RUN/model.onnx in several forms from one calibration and times batch-1 latency and
batch-256 throughput with ONNX Runtime (CPU EP, default threads), plus test accuracy.

    PYTHONPATH=. python benchmarks/int8_cpu_forms.py RUN --data-dir DIR [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(runner, x, *, repeat: int) -> float:
    runner.infer(x)
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        runner.infer(x)
        best.append(time.perf_counter() - t0)
    return float(np.median(best))


def main() -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.backends.base import open_runner
    from vggdeploy.data import load_split, preprocess
    from vggdeploy.export.quantize import (
        DEFAULT_CALIB_METHOD,
        _method,
        calibrate,
        calibration_images,
    )
    from vggdeploy.export.verify import runner_logits
    from vggdeploy.metrics import accuracy

    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--data-dir")
    ap.add_argument("--out")
    args = ap.parse_args()
    run = Path(args.run)
    spec = read_spec(run)
    base = run / "model.onnx"
    calib = calibration_images(spec, args.data_dir, 512)
    ranges, _ = calibrate(
        base.read_bytes(),
        calib,
        method=DEFAULT_CALIB_METHOD,
        cache_dir=run,
        input_name="input",
        log=print,
    )
    test = load_split("test", args.data_dir)
    tx = preprocess(test.images, spec)
    forms = {
        "fp32": None,
        "QDQ U8S8": (QuantFormat.QDQ, QuantType.QUInt8, {}),
        "QDQ S8S8 symmetric": (QuantFormat.QDQ, QuantType.QInt8, {"ActivationSymmetric": True}),
        "QOperator U8S8": (QuantFormat.QOperator, QuantType.QUInt8, {}),
        "QOperator S8S8": (QuantFormat.QOperator, QuantType.QInt8, {"ActivationSymmetric": True}),
    }
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for label, form in forms.items():
            path = base
            if form is not None:
                fmt, act, extra = form
                path = Path(work) / f"{len(rows)}.onnx"
                quantize_static(
                    str(base),
                    str(path),
                    None,
                    quant_format=fmt,
                    per_channel=True,
                    activation_type=act,
                    weight_type=QuantType.QInt8,
                    calibrate_method=_method(DEFAULT_CALIB_METHOD),
                    calibration_cache_path=str(ranges),
                    extra_options={"WeightSymmetric": True, **extra},
                )
            with open_runner("onnxruntime", path) as s:
                lat = timed(s, tx[:1], repeat=200)
                thr = timed(s, tx[:256], repeat=10)
                acc = accuracy(runner_logits(s, tx), test.labels)
            rows.append(
                {
                    "form": label,
                    "batch1_ms": 1e3 * lat,
                    "batch256_img_per_s": 256 / thr,
                    "test_accuracy": acc,
                }
            )
            print(
                f"{label:<22} b1 {1e3 * lat:7.3f} ms   b256 {256 / thr:8.0f} img/s   "
                f"acc {100 * acc:.2f}%"
            )
    ranges.unlink(missing_ok=True)
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
