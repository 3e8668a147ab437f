"""Does bfloat16 autocast pay for CPU training here? Training throughput with and without it.

Alternates short real training runs (``vggdeploy.train.train``, the default recipe and preset,
1 epoch over the first ``--images`` train images, i.e. a few dozen steps each) with
``cpu_bf16=False`` and ``True``, ``--pairs`` times, and reports each run's images/s as the
training loop records it (``history``), the medians and their ratio, with the CPU's features.
The verdict decides ``--cpu-bf16``'s automatic default (``train/config.py:cpu_bf16_pays``).

    PYTHONPATH=. python benchmarks/train_bf16.py [--pairs 3] [--images 6400]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_run(cpu_bf16: bool, images: int, data_dir: str | None) -> float:
    from vggdeploy.train.config import TrainConfig
    from vggdeploy.train.loop import train

    cfg = TrainConfig(epochs=1, limit_train=images, limit_test=256, cpu_bf16=cpu_bf16)
    with tempfile.TemporaryDirectory(prefix="bf16-probe.") as work:
        train(cfg, Path(work) / "run", data_dir=data_dir, log=lambda *_: None)
        history = json.loads((Path(work) / "run" / "history.json").read_text())
    rows = history["epochs"] if isinstance(history, dict) else history
    return float(rows[-1]["images_per_second"])


def main() -> None:
    import statistics

    import torch

    from vggdeploy.backends.cpu_features import cpu_features
    from vggdeploy.bench.sysinfo import cpu_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--images", type=int, default=6400)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    runs: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(args.pairs):
        order = ("fp32", "bf16") if i % 2 == 0 else ("bf16", "fp32")  # neither always first
        for mode in order:
            ips = one_run(mode == "bf16", args.images, args.data_dir)
            runs[mode].append(ips)
            print(f"pair {i + 1}: {mode} {ips:.0f} img/s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    cpu = cpu_info()
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu["model"],
        "cores": cpu["physical_cores"],
        "features": cpu_features().as_dict(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average_after": os.getloadavg()[0],
        "setting": f"default recipe and preset, 1 epoch over {args.images} train images per run, "
        f"{args.pairs} alternating pairs",
        "images_per_second": runs,
        "median": med,
        "bf16_over_fp32": med["bf16"] / med["fp32"],
    }
    out = args.out or HERE / "results" / "train-bf16.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: doc[k] for k in ("cpu", "median", "bf16_over_fp32")}))


if __name__ == "__main__":
    main()
