"""Training benchmark: wall time, images/s and final test accuracy of the default preset.

Reproduce (from the repo root, after `bash scripts/setup.sh`):

    .venv/bin/python benchmarks/train_bench.py --out runs/bench-train \
        --json benchmarks/results/cpu-2core/train.json

Target (issue 2): >= 93.5 % test accuracy in <= 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict

import torch

from vggdeploy import __version__
from vggdeploy._io import write_json
from vggdeploy.bench.sysinfo import cpu_info, git_commit
from vggdeploy.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench-train")
    ap.add_argument("--json", default="benchmarks/results/cpu-2core/train.json")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = ap.parse_args()

    cfg = TrainConfig(epochs=args.epochs)
    t0 = time.perf_counter()
    result = train(cfg, args.out, force=True, log=print)  # a re-run replaces the last one
    wall = time.perf_counter() - t0
    hist = result.history
    train_images = sum(h["epoch_seconds"] * h["images_per_second"] for h in hist)
    record = {
        "benchmark": "train",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": "python benchmarks/train_bench.py " + f"--out {args.out} --json {args.json}",
        "machine": {
            "cpu": cpu_info()["model"],
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "vggdeploy": __version__,
            "git_commit": (git_commit() or {}).get("commit", "unknown")[:7],
        },
        "config": asdict(cfg),
        "wall_seconds": round(wall, 1),
        "train_images_per_second_median": sorted(h["images_per_second"] for h in hist)[
            len(hist) // 2
        ],
        "train_images_per_second_overall": round(
            train_images / sum(h["epoch_seconds"] for h in hist), 1
        ),
        "final_test_accuracy": hist[-1]["test_accuracy"],
        "best_test_accuracy": max(h["test_accuracy"] for h in hist),
        "targets": {"test_accuracy": 0.935, "wall_seconds": 600},
        "history": hist,
    }
    write_json(args.json, record)
    print(
        json.dumps(
            {
                k: record[k]
                for k in ("wall_seconds", "final_test_accuracy", "train_images_per_second_median")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
