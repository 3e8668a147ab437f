"""Training benchmark: accuracy against wall clock of `vggdeploy train`, and an ablation of its
recipe in which every row is a complete, measured run.

Reproduce (from the repo root, after `bash scripts/setup.sh`, on an otherwise idle machine):

    .venv/bin/python benchmarks/train_bench.py            # every row, then the report
    .venv/bin/python benchmarks/train_bench.py --rows default
    .venv/bin/python benchmarks/train_bench.py --report-only

Each row trains into runs/bench-train/<row> (replacing it) and writes
benchmarks/results/<machine>/train-<row>.json (machine, command, config, per-epoch history);
the report (benchmarks/TRAINING.md and its PNG) is regenerated from those files alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vggdeploy._io import atomic_path, write_json, write_text  # noqa: E402
from vggdeploy._version import __version__  # noqa: E402
from vggdeploy.bench.sysinfo import cpu_info, git_commit  # noqa: E402
from vggdeploy.train.config import TrainConfig  # noqa: E402

TARGET_ACCURACY, TARGET_SECONDS = 0.94, 600.0
MILESTONES = (0.90, 0.92, 0.93, 0.94)

# name -> (what the row changes against the default, TrainConfig.from_recipe arguments).
# Every row is one complete `train()` run; "bf16-probe" is a throughput probe on 6,400 images.
ROWS: dict[str, tuple[str, dict]] = {
    "default": ("the default recipe (`vggdeploy train`, no options)", {}),
    "epochs-1": ("a short run: `--epochs 1` (warm-up and decay scale with it)", dict(epochs=1)),
    "previous-default": (
        "the default before issue 12: preset vgg-mini, 12 epochs, cosine after a 1-epoch "
        "warm-up, no weight average",
        dict(preset="vgg-mini", epochs=12, schedule="cosine", warmup_epochs=1.0, ema=0.0),
    ),
    "no-ema": ("default without the weight average (`--ema 0`)", dict(ema=0.0)),
    "erase": ("default plus random erasing (`--erase 0.5`)", dict(erase=0.5)),
    "cosine": (
        "default with cosine decay after a 1-epoch warm-up instead of one-cycle",
        dict(schedule="cosine", warmup_epochs=1.0),
    ),
    "d2l": ("the seeds' recipe on the default network (`--recipe d2l`)", dict(recipe="d2l")),
    "bf16-probe": (
        "default with bfloat16 autocast on CPU (`--cpu-bf16`), first 6,400 images, 1 epoch: "
        "a throughput probe",
        dict(cpu_bf16=True, epochs=1, limit_train=6400),
    ),
    "no-label-smoothing": ("default without label smoothing", dict(label_smoothing=0.0)),
    "fp32": (
        "default with bfloat16 autocast off (`--no-cpu-bf16`): the same as `default` on CPUs "
        "without AMX-BF16, where it is off already",
        dict(cpu_bf16=False),
    ),
}


def machine() -> dict:
    import torch

    cpu = cpu_info()
    return {
        "cpu": cpu["model"],
        "cores": cpu["physical_cores"],
        "avx512_bf16": "avx512_bf16" in cpu["simd"],
        "simd": cpu["simd"],
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "vggdeploy": __version__,
        "git_commit": (git_commit() or {}).get("commit", "unknown")[:7],
    }


def machine_slug(m: dict) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", m["cpu"].lower()).strip("-")
    return f"cpu-{name}-{m['cores']}c"


def milestone_seconds(history: list[dict], accuracy: float) -> float | None:
    """Wall seconds at the end of the first epoch whose test accuracy reached ``accuracy``."""
    return next((h["wall_seconds"] for h in history if h["test_accuracy"] >= accuracy), None)


def run_row(name: str, out_root: Path, results: Path, m: dict) -> dict:
    from vggdeploy.train.loop import train

    what, options = ROWS[name]
    cfg = TrainConfig.from_recipe(**options)
    t0 = time.perf_counter()
    result = train(cfg, out_root / name, force=True, log=print)
    wall = time.perf_counter() - t0
    hist = result.history
    record = {
        "benchmark": "train",
        "row": name,
        "what": what,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": f"python benchmarks/train_bench.py --rows {name}",
        "machine": m,
        "config": asdict(cfg),
        "wall_seconds": round(wall, 1),
        "images_per_second_median": sorted(h["images_per_second"] for h in hist)[len(hist) // 2],
        "final_test_accuracy": hist[-1]["test_accuracy"],
        "best_test_accuracy": max(h["test_accuracy"] for h in hist),
        "seconds_to": {f"{a:.2f}": milestone_seconds(hist, a) for a in MILESTONES},
        "history": hist,
    }
    write_json(results / f"train-{name}.json", record)
    return record


def _fmt_s(s: float | None) -> str:
    return "—" if s is None else f"{s:,.0f} s"


def _plot(records: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in records:
        if r["config"]["limit_train"]:
            continue
        h = r["history"]
        ax.plot(
            [x["wall_seconds"] for x in h],
            [100 * x["test_accuracy"] for x in h],
            marker="o",
            ms=3,
            label=r["row"],
        )
    ax.axhline(100 * TARGET_ACCURACY, color="k", ls="--", lw=0.8)
    ax.axvline(TARGET_SECONDS, color="k", ls=":", lw=0.8)
    ax.set_ylim(85, 95)
    ax.set_xlabel("wall clock (s): data loading, training, per-epoch evaluation, checkpoints")
    ax.set_ylabel("test accuracy (%), 10,000 images")
    ax.set_title(f"vggdeploy train on {records[0]['machine']['cpu']}, 2 threads")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def report(results: Path, md: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted(results.glob("train-*.json"))]
    order = list(ROWS)
    records.sort(key=lambda r: order.index(r["row"]) if r["row"] in order else len(order))
    if not records:
        raise SystemExit(f"no train-*.json in {results}: run the benchmark first")
    png = results / "train-accuracy-vs-wall.png"
    _plot(records, png)
    m = records[0]["machine"]
    default = next((r for r in records if r["row"] == "default"), None)
    lines = [
        "# Training benchmark (`vggdeploy train`)",
        "",
        "Generated by `benchmarks/train_bench.py` from the JSON files it wrote; do not edit.",
        "",
        "```",
        ".venv/bin/python benchmarks/train_bench.py            # all rows (one at a time)",
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, avx512_bf16: "
        f"{'yes' if m['avx512_bf16'] else 'no'}; Python {m['python']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), vggdeploy {m['vggdeploy']} at {m['git_commit']}; "
        f"{records[0]['date']}; nothing else running. Wall clock counts data loading, training, "
        "the test-set evaluation after every epoch and the checkpoints; the accuracy is that of "
        "the saved weights on the full 10,000-image test set, without test-time augmentation.",
        "",
    ]
    if default:
        c = default["config"]
        met = (
            default["final_test_accuracy"] >= TARGET_ACCURACY
            and default["wall_seconds"] <= TARGET_SECONDS
        )
        lines += [
            f"**Default run: {100 * default['final_test_accuracy']:.2f} % in "
            f"{default['wall_seconds']:.0f} s** (target ≥ {100 * TARGET_ACCURACY:.1f} % within "
            f"{TARGET_SECONDS:.0f} s: {'met' if met else 'not met'}). Preset `{c['preset']}`, "
            f"{c['epochs']} epochs, batch {c['batch_size']}, Nesterov SGD (momentum "
            f"{c['momentum']}), {c['schedule']} schedule peaking at lr {c['lr']} after a "
            f"{'20 % of the run' if c['warmup_epochs'] is None else c['warmup_epochs']} warm-up, "
            f"weight decay {c['weight_decay']}, label smoothing {c['label_smoothing']}, flip + "
            f"2-pixel shift, random erasing p = {c['erase']}, weight average (EMA decay "
            f"{c['ema']}) evaluated and saved, channels-last.",
            "",
        ]
    lines += [
        f"![accuracy against wall clock]({png.relative_to(md.parent).as_posix()})",
        "",
        "| row | what changes | epochs | wall | final acc. | best | to 92 % | to 93 % | to 94 % "
        "| img/s (median epoch) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        s = r["seconds_to"]
        probe = r["config"]["limit_train"]
        acc = "(probe)" if probe else f"{100 * r['final_test_accuracy']:.2f} %"
        best = "" if probe else f"{100 * r['best_test_accuracy']:.2f} %"
        lines.append(
            f"| `{r['row']}` | {r['what']} | {r['config']['epochs']} | {r['wall_seconds']:.0f} s "
            f"| {acc} | {best} | {_fmt_s(s['0.92'])} | {_fmt_s(s['0.93'])} | {_fmt_s(s['0.94'])} "
            f"| {r['images_per_second_median']:,.0f} |"
        )
    lines += [
        "",
        "Per-epoch data (test accuracy and loss, seconds, images/s, wall clock) of every row: "
        + ", ".join(
            f"[{r['row']}]({(results / ('train-' + r['row'] + '.json')).relative_to(md.parent)})"
            for r in records
        )
        + ". One row: `.venv/bin/python benchmarks/train_bench.py --rows ROW` (then "
        "`--report-only` to rebuild this page).",
        "",
    ]
    notes = md.with_suffix(".notes.md")
    if notes.is_file():  # the hand-written analysis, kept beside the generated tables
        lines += [notes.read_text().rstrip(), ""]
    write_text(md, "\n".join(lines))
    print(f"wrote {md} and {png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {', '.join(ROWS)}")
    ap.add_argument("--out-root", default="runs/bench-train", type=Path)
    ap.add_argument("--results", type=Path, help="default benchmarks/results/<machine>")
    ap.add_argument("--report", default=ROOT / "benchmarks/TRAINING.md", type=Path)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; valid: {', '.join(ROWS)}")
    m = machine()
    results = (args.results or ROOT / "benchmarks/results" / machine_slug(m)).resolve()
    args.report = args.report.resolve()  # the page links the results relative to itself
    if not args.report_only:
        print(f"benchmark rows {rows} on {m['cpu']} -> {results}", flush=True)
        for name in rows:
            print(f"== {name}: {shlex.quote(ROWS[name][0])}", flush=True)
            rec = run_row(name, args.out_root, results, m)
            print(json.dumps({k: rec[k] for k in ("row", "wall_seconds", "final_test_accuracy")}))
    os.makedirs(results, exist_ok=True)
    report(results, args.report)


if __name__ == "__main__":
    main()
