#!/usr/bin/env python3
"""Reproduce the committed benchmark results: the default preset (vgg-mini) and the seed's VGG-11
small (d2l-vgg11-small, 224x224), each through `vggdeploy bench`, plus a SUMMARY.md of targets.

    benchmarks/run_bench.sh            # full run: a quiet machine, about 30-60 min on 2 cores
    benchmarks/run_bench.sh --quick    # smoke run: few iterations, few images
    benchmarks/run_bench.sh --mini-run runs/default --vgg11-untrained --device cpu

Everything it reports comes from the bench outputs (results.json -> report.md / SUMMARY.md); no
number is written by hand. Steps are plain `python -m vggdeploy ...` commands, printed as they run.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Per preset: batch sizes, timed calls per case and batch, warm-up, and accuracy images
# (None = the full 10,000-image test set). VGG-11 small costs ~1 GFLOP per image, so fewer calls.
PRESETS = {
    "vgg-mini": dict(batch_sizes="1,8,32,64,128", iters=200, warmup=20, limit_test=None),
    # 1 GFLOP per image: accuracy on the first 1,000 test images keeps a CPU run under ~15 min.
    "d2l-vgg11-small": dict(batch_sizes="1,8,32,64", iters=20, warmup=3, limit_test=1000),
}
# Artifacts bench discovers in a run folder: the ONNX variants and an AOTInductor CPU package.
DEFAULT_PREPARE = [
    "export {run} --precision all --limit-test 1000",
    "build-engine {run} --backend inductor --device cpu -o {run}/model.cpu.pt2",
]
QUICK = dict(iters=6, warmup=1, limit_test=256, repeats=2)


def vggdeploy(*args: str, check: bool = True) -> int:
    cmd = [sys.executable, "-m", "vggdeploy", *args]
    print("+", shlex.join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if check and rc != 0:
        sys.exit(f"command failed with exit code {rc}: {shlex.join(cmd)}")
    return rc


def machine_tag(device: str) -> str:
    from vggdeploy.bench.sysinfo import cpu_info, gpu_info

    if device.startswith("cuda"):
        gpus = gpu_info()
        name = gpus[0]["name"] if gpus else "cuda"
        return "gpu-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    cpu = cpu_info()
    model = re.sub(r"\(r\)|\(tm\)|processor|cpu", "", cpu["model"].lower())
    return f"cpu-{re.sub(r'[^a-z0-9]+', '-', model).strip('-')}-{cpu['physical_cores']}c"


def require_complete(run: Path, allow_incomplete: bool) -> str:
    """A note on the checkpoint; exits when training is not complete (unless allowed)."""
    meta = json.loads((run / "model.json").read_text())
    metrics = meta.get("metrics") or {}
    acc = metrics.get("test_accuracy")
    epochs = metrics.get("epochs_done")
    note = f"trained {epochs} epoch(s), recorded test accuracy {acc}"
    if not metrics.get("complete"):
        msg = f"{run}: training is not complete (metrics.complete is not true)"
        if not allow_incomplete:
            sys.exit(msg + "; wait for it, or pass --allow-incomplete")
        print("warning:", msg, flush=True)
        return note + " (INCOMPLETE run)"
    return note


def make_vgg11(run: Path, args: argparse.Namespace) -> str:
    """A d2l-vgg11-small checkpoint: trained briefly, or untrained (latency only), say which."""
    if (run / "model.json").is_file():
        meta = json.loads((run / "model.json").read_text())
        return (meta.get("metrics") or {}).get("note") or "existing checkpoint"
    if args.vgg11_untrained:
        from vggdeploy.artifacts.checkpoint import save_checkpoint
        from vggdeploy.models.presets import make_spec
        from vggdeploy.models.vgg import build_model

        spec = make_spec("d2l-vgg11-small")
        note = "untrained (Xavier init): latency only, accuracy is meaningless"
        spec = spec.with_provenance(metrics={"note": note, "complete": False})
        save_checkpoint(run, build_model(spec).eval(), spec)
        return note
    train = ["train", "--preset", "d2l-vgg11-small", "--epochs", str(args.vgg11_epochs)]
    if args.vgg11_train_images:
        train += ["--limit-train", str(args.vgg11_train_images)]
    if args.data_dir:
        train += ["--data-dir", args.data_dir]
    vggdeploy(*train, "--out", str(run))
    images = args.vgg11_train_images or 60000
    return f"briefly trained: {args.vgg11_epochs} epoch(s) on {images} training images"


def prepare(run: Path, templates: list[str]) -> None:
    """Export / build the artifacts bench discovers; a failing step leaves its rows 'skipped'."""
    for template in templates:
        args = shlex.split(template.format(run=run))
        if vggdeploy(*args, check=False) != 0:
            print(f"warning: `vggdeploy {shlex.join(args)}` failed; its rows will be skipped")


def bench(run: Path, out: Path, preset: str, args: argparse.Namespace, accuracy: bool) -> Path:
    s = dict(PRESETS[preset], repeats=args.repeats)
    if args.quick:
        s.update(QUICK)
    cmd = ["bench", str(run), "--out", str(out), "--device", args.device]
    cmd += ["--backends", args.backends, "--precisions", args.precisions]
    cmd += ["--batch-sizes", args.batch_sizes or s["batch_sizes"]]
    cmd += ["--iters", str(s["iters"]), "--warmup", str(s["warmup"])]
    cmd += ["--repeats", str(s["repeats"])]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.torch_compile:
        cmd.append("--torch-compile")
    if args.ort_tensorrt:
        cmd.append("--ort-tensorrt")
    if not accuracy:
        cmd.append("--no-accuracy")
    elif s["limit_test"]:
        cmd += ["--limit-test", str(s["limit_test"])]
    vggdeploy(*cmd)
    return out / "results.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--mini-run", default=str(ROOT / "runs" / "default"), help="trained vgg-mini run folder"
    )
    p.add_argument("--vgg11-run", default=str(ROOT / "runs" / "d2l-vgg11-small"))
    p.add_argument("--vgg11-epochs", type=int, default=1)
    p.add_argument("--vgg11-train-images", type=int, default=6000)
    p.add_argument("--vgg11-untrained", action="store_true", help="latency-only VGG-11 small")
    p.add_argument("--skip-mini", action="store_true")
    p.add_argument("--skip-vgg11", action="store_true")
    p.add_argument("--allow-incomplete", action="store_true")
    p.add_argument(
        "--prepare",
        action="append",
        default=None,
        help="vggdeploy sub-command run on each run folder before bench ({run} is replaced); "
        "repeatable; default: DEFAULT_PREPARE (ONNX variants + AOTInductor CPU package)",
    )
    p.add_argument("--backends", default="torch,onnxruntime,tensorrt,inductor")
    p.add_argument("--precisions", default="fp32,fp16,bf16,int8")
    p.add_argument("--batch-sizes", default=None, help="override the per-preset batch sizes")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--torch-compile", action="store_true", help="add torch.compile rows")
    p.add_argument("--ort-tensorrt", action="store_true", help="add ORT TensorRT-EP rows (CUDA)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="default: benchmarks/results/<machine tag>")
    p.add_argument("--quick", action="store_true", help="smoke run, not for committed numbers")
    args = p.parse_args()

    from vggdeploy.bench.targets import targets_markdown

    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / machine_tag(args.device)
    if args.quick and not args.out:
        out = out.with_name(out.name + "-quick")
    templates = args.prepare if args.prepare is not None else DEFAULT_PREPARE
    sections = []
    if not args.skip_mini:
        run = Path(args.mini_run)
        note = require_complete(run, args.allow_incomplete)
        prepare(run, templates)
        results = bench(run, out / "vgg-mini", "vgg-mini", args, accuracy=True)
        sections.append(("vgg-mini", note, results))
    if not args.skip_vgg11:
        run = Path(args.vgg11_run)
        note = make_vgg11(run, args)
        prepare(run, templates)
        trained = "untrained" not in note
        results = bench(run, out / "d2l-vgg11-small", "d2l-vgg11-small", args, accuracy=trained)
        sections.append(("d2l-vgg11-small", note, results))

    from vggdeploy._io import write_text

    lines = [
        f"# Benchmark summary: {out.name}"
        + (" (QUICK SMOKE RUN, not for comparison)" if args.quick else ""),
        "",
        f"Command: `benchmarks/run_bench.sh {shlex.join(sys.argv[1:])}`",
        "",
    ]
    for preset, note, results_path in sections:
        results = json.loads(results_path.read_text())
        lines += [
            f"## {preset}",
            "",
            f"Checkpoint: {note}. Full tables: [{preset}/report.md]({preset}/report.md).",
            "",
            targets_markdown(results),
        ]
    write_text(out / "SUMMARY.md", "\n".join(lines))
    print(f"wrote {out / 'SUMMARY.md'}")


if __name__ == "__main__":
    main()
