"""Export-stage benchmark: wall time of export + FP16 + INT8 + verification, and accuracy of every
variant against PyTorch on the full Fashion-MNIST test set.

    PYTHONPATH=. python benchmarks/export_bench.py /tmp/run1 \
        --data-dir /usr/share/datasets/fashion-mnist \
        --out benchmarks/results/cpu-2core/export.json [--sweep]

The run folder is copied to a temporary folder first (nothing is written into it). ``--sweep``
also quantizes with every calibration method and reports their INT8 accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path


def machine() -> dict:
    import onnxruntime
    import torch

    from vggdeploy.bench.sysinfo import cpu_info

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_info()["model"],
        "cores": os.cpu_count(),
        "load_average_1_5_15": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    from vggdeploy.artifacts.checkpoint import load_checkpoint
    from vggdeploy.backends.base import open_runner
    from vggdeploy.data import load_split, preprocess
    from vggdeploy.export.pipeline import export_variants
    from vggdeploy.export.verify import runner_logits
    from vggdeploy.metrics import compare_logits

    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--data-dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calib-method", default="entropy")
    ap.add_argument("--sweep", action="store_true")
    args = ap.parse_args()

    result: dict = {"command": "benchmarks/export_bench.py", "machine": machine()}
    src = Path(args.run)
    result["checkpoint_metrics"] = json.loads((src / "model.json").read_text()).get("metrics")
    with tempfile.TemporaryDirectory(prefix="export-bench.") as work:
        run = Path(work) / "run"
        shutil.copytree(src, run, ignore=shutil.ignore_patterns("train_state*", "*.onnx"))
        t0 = time.perf_counter()
        out = export_variants(
            run, precisions="all", data_dir=args.data_dir, calib_method=args.calib_method, log=print
        )
        wall = time.perf_counter() - t0
        result["stage_wall_s"] = wall
        result["stage_timings"] = {k: v.report.get("timings") for k, v in out.items()}
        result["files"] = {k: {"bytes": v.path.stat().st_size} for k, v in out.items()}
        print(f"\nexport + FP16 + INT8 (+ verification): {wall:.1f} s")

        model, spec = load_checkpoint(run)
        test = load_split("test", args.data_dir)
        x = preprocess(test.images, spec)
        t0 = time.perf_counter()
        with open_runner("torch", (model, spec)) as torch_runner:
            ref = runner_logits(torch_runner, x)
        result["torch_reference_s"] = time.perf_counter() - t0
        rows = {}
        for tag, res in out.items():
            with open_runner("onnxruntime", res.path) as s:
                t0 = time.perf_counter()
                logits = runner_logits(s, x)
                ort_s = time.perf_counter() - t0
            m = compare_logits(ref, logits, labels=test.labels)
            m["accuracy_drop_pt_vs_pytorch"] = 100 * (m["ref_accuracy"] - m["out_accuracy"])
            m["ort_cpu_test_set_s"] = ort_s
            rows[tag] = m
            print(
                f"{tag:<9} acc {100 * m['out_accuracy']:.2f}% "
                f"(PyTorch {100 * m['ref_accuracy']:.2f}%, "
                f"drop {m['accuracy_drop_pt_vs_pytorch']:+.2f} pt)  agree "
                f"{100 * m['top1_agreement']:.2f}%  max|Δ| {m['max_abs']:.3g}  ORT {ort_s:.1f} s"
            )
        result["vs_pytorch"] = rows
        if args.sweep:
            from vggdeploy.export.quantize import (
                CALIB_METHODS,
                INT8_TARGETS,
                calibrate,
                calibration_images,
                quantize_int8,
            )

            calib = calibration_images(spec, args.data_dir)
            sweep = {}
            for method in CALIB_METHODS:
                ranges, _ = calibrate(
                    (run / "model.onnx").read_bytes(),
                    calib,
                    method=method,
                    cache_dir=run,
                    input_name="input",
                    log=print,
                )
                for target in INT8_TARGETS:
                    q = quantize_int8(
                        (run / "model.onnx").read_bytes(), ranges, target=target, method=method
                    )
                    with open_runner("onnxruntime", q) as s:
                        m = compare_logits(ref, runner_logits(s, x), labels=test.labels)
                    drop = 100 * (m["ref_accuracy"] - m["out_accuracy"])
                    sweep[f"{method}/{target}"] = {
                        "accuracy": m["out_accuracy"],
                        "drop_pt": drop,
                        "agreement": m["top1_agreement"],
                        "max_abs": m["max_abs"],
                    }
                    print(
                        f"sweep {method:<10} {target:<8} acc {100 * m['out_accuracy']:.2f}% "
                        f"drop {drop:+.2f} pt agree {100 * m['top1_agreement']:.2f}%"
                    )
                ranges.unlink(missing_ok=True)
            result["calibration_sweep"] = sweep
    result["machine"]["load_average_after"] = os.getloadavg()
    from vggdeploy._io import write_json, write_text

    write_json(args.out, result)
    md = Path(args.out).with_suffix(".md")
    write_text(md, render_markdown(result, " ".join(sys.argv)))
    print(f"wrote {args.out} and {md}")


TARGETS = {
    "fp32": "agreement 100%, max abs diff <= 1e-4",
    "fp16": "agreement >= 99.9%",
    "int8": "drop <= 0.3 pt",
    "int8-cpu": "drop <= 0.3 pt",
}


def _met(tag: str, m: dict) -> bool:
    if tag == "fp32":
        return m["top1_agreement"] == 1.0 and m["max_abs"] <= 1e-4
    if tag == "fp16":
        return m["top1_agreement"] >= 0.999
    return m["accuracy_drop_pt_vs_pytorch"] <= 0.3


def render_markdown(result: dict, command: str) -> str:
    """The tables of EXPORT.md, generated from the JSON (nothing typed by hand)."""
    mach = result["machine"]
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores; "
        f"load average after the run {mach.get('load_average_after')}",
        "",
        f"**Stage wall time (export + FP16 + INT8 + verification): "
        f"{result['stage_wall_s']:.1f} s** (target <= 60 s)",
        "",
        "| model | bytes | top-1 | drop vs PyTorch | agreement | max abs diff | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tag, m in result["vs_pytorch"].items():
        lines.append(
            f"| {tag} | {result['files'][tag]['bytes']:,} | {100 * m['out_accuracy']:.2f}% | "
            f"{m['accuracy_drop_pt_vs_pytorch']:+.2f} pt | {100 * m['top1_agreement']:.2f}% | "
            f"{m['max_abs']:.2g} | {TARGETS.get(tag, '')} | {'yes' if _met(tag, m) else 'NO'} |"
        )
    sweep = result.get("calibration_sweep")
    if sweep:
        lines += [
            "",
            "| calibration / target | top-1 | drop | agreement |",
            "| --- | --- | --- | --- |",
        ]
        for key, m in sweep.items():
            lines.append(
                f"| {key} | {100 * m['accuracy']:.2f}% | {m['drop_pt']:+.2f} pt | "
                f"{100 * m['agreement']:.2f}% |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
