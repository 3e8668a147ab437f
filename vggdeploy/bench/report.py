"""Bench outputs: terminal table (rich), results.json, results.csv, report.md and PNG plots.

Every file is written atomically; report.md is generated from results.json alone, so committed
benchmark tables are never typed by hand.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from vggdeploy._io import atomic_path, staged_files, write_json, write_text
from vggdeploy.artifacts.run_folder import BENCH_DIR
from vggdeploy.bench.latency import STAT_KEYS

PLOTS = ("latency_vs_batch.png", "throughput_vs_batch.png", "accuracy.png")


def _accuracy_by_key(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(a["backend"], a["precision"], a["variant"]): a for a in results.get("accuracy", [])}


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["backend"], row["precision"], row["variant"])


def _unmeasured(results: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    """Cases with the same non-ok status and reason at every batch (skipped or failed at setup)."""
    seen: dict[tuple[str, str, str], set[tuple[str, str | None]]] = {}
    for r in results["rows"]:
        seen.setdefault(_key(r), set()).add((r["status"], r["reason"]))
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and next(iter(v))[0] != "ok"}


def _label(row: dict[str, Any]) -> str:
    v = row["variant"]
    return f"{row['backend']} {row['precision']}" + (f" ({v})" if v not in ("-", "") else "")


def _f(value: Any, fmt: str = ".3f", none: str = "") -> str:
    return none if value is None else format(value, fmt)


# ---- CSV ----
CSV_FIELDS = [
    "backend",
    "precision",
    "variant",
    "device",
    "batch",
    "status",
    "reason",
    *[f"{k}_ms" for k in STAT_KEYS],
    "n_timed",
    "throughput_ips",
    "speedup_vs_torch_fp32",
    "gflops_per_s",
    "fp32_peak_share",
    "h2d_ms",
    "compute_ms",
    "d2h_ms",
    "top1",
    "agreement",
    "max_abs_diff",
    "cosine_mean",
    "artifact_mb",
    "artifact",
]


def to_csv(results: dict[str, Any]) -> str:
    acc = _accuracy_by_key(results)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for row in results["rows"]:
        out = {k: row.get(k) for k in CSV_FIELDS if k in row}
        lat = row.get("latency_ms") or {}
        for k in STAT_KEYS:
            out[f"{k}_ms"] = lat.get(k)
        out["n_timed"] = lat.get("n")
        split = row.get("gpu_split_ms") or {}
        for part in ("h2d", "compute", "d2h"):
            out[f"{part}_ms"] = split.get(part)
        a = acc.get((row["backend"], row["precision"], row["variant"])) or {}
        for k in ("top1", "agreement", "max_abs_diff", "cosine_mean"):
            out[k] = a.get(k)
        w.writerow(out)
    return buf.getvalue()


# ---- Markdown ----
def to_markdown(results: dict[str, Any], plots: list[str] | None = None) -> str:
    env, model, cfg = results["environment"], results["model"], results["config"]
    cpu, peak = env["cpu"], env["cpu_peak"]
    gpus = ", ".join(f"{g['name']} (driver {g.get('driver', '?')})" for g in env["gpus"]) or "none"
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    git = env.get("git") or {}
    lines = [
        f"# Benchmark: {model['preset']} ({'x'.join(str(d) for d in model['input'][1:])})",
        "",
        f"- Run: `{results['run']}` · created {results['created']} · schema "
        f"{results['schema']} v{results['version']}",
        f"- CPU: {cpu['model']}, {cpu['physical_cores']} cores usable "
        f"({cpu['usable_cpus']} logical), {cpu.get('ghz')} GHz ({cpu.get('ghz_source')}); "
        f"fp32 peak {_f(peak['fp32_flops'] and peak['fp32_flops'] / 1e9, '.0f', '?')} GFLOP/s "
        f"= {peak['formula']}",
        f"- GPU: {gpus}",
        f"- Libraries: {libs}",
        f"- Commit: {git.get('commit', 'unknown')}{' (dirty)' if git.get('dirty') else ''}",
        f"- Settings: device {cfg['device']}, threads {cfg['threads']}, warm-up {cfg['warmup']}, "
        + (f"{cfg['iters']} timed calls" if cfg.get("iters") else f"{cfg['duration_s']} s")
        + f" per case and batch in {cfg['repeats']} interleaved rounds",
        f"- Model: {model['flops_per_image'] / 1e6:.1f} MFLOP per image",
        "",
        "Latency in ms (p50 is the median of all timed calls); throughput = batch / p50; "
        "×torch = p50 of PyTorch eager FP32 at the same batch / p50 of the row; "
        "rounds = min–max of the per-round medians.",
        "",
    ]
    from vggdeploy.bench.targets import targets_markdown

    lines += [targets_markdown(results)]
    unmeasured = _unmeasured(results)
    if unmeasured:
        lines += [
            "## Not measured",
            "",
            "| backend | precision | variant | status |",
            "|---|---|---|---|",
        ]
        for (b, p, v), (status, reason) in unmeasured.items():
            lines.append(f"| {b} | {p} | {v} | {status}: {(reason or '').replace('|', '/')} |")
        lines.append("")
    for batch in sorted({r["batch"] for r in results["rows"]}):
        lines += [
            f"## Batch {batch}",
            "",
            "| backend | precision | variant | status | p50 | p90 | p99 | mean ± std | rounds | "
            "img/s | ×torch | GFLOP/s | % fp32 peak | MB |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["rows"]:
            if r["batch"] != batch or _key(r) in unmeasured:
                continue
            lat = r.get("latency_ms")
            status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason']}"
            if lat:
                rounds = r.get("round_p50_ms") or []
                cells = [
                    _f(lat["p50"]),
                    _f(lat["p90"]),
                    _f(lat["p99"]),
                    f"{lat['mean']:.3f} ± {lat['std']:.3f}",
                    f"{min(rounds):.3f}–{max(rounds):.3f}" if rounds else "",
                    _f(r["throughput_ips"], ".0f"),
                    _f(r["speedup_vs_torch_fp32"], ".2f"),
                    _f(r["gflops_per_s"], ".1f"),
                    _f(r["fp32_peak_share"] and r["fp32_peak_share"] * 100, ".1f"),
                ]
            else:
                cells = [""] * 9
            lines.append(
                f"| {r['backend']} | {r['precision']} | {r['variant']} | "
                f"{status.replace('|', '/')} | "
                + " | ".join(cells)
                + f" | {_f(r['artifact_mb'], '.2f')} |"
            )
        lines.append("")
    if any(r.get("gpu_split_ms") for r in results["rows"]):
        lines += [
            "## GPU time split (median ms, CUDA events)",
            "",
            "| backend | precision | variant | batch | H2D | compute | D2H |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for r in results["rows"]:
            s = r.get("gpu_split_ms")
            if s:
                lines.append(
                    f"| {r['backend']} | {r['precision']} | {r['variant']} | {r['batch']} | "
                    f"{_f(s.get('h2d'))} | {_f(s.get('compute'))} | {_f(s.get('d2h'))} |"
                )
        lines.append("")
    if results.get("accuracy"):
        n = next((a["n"] for a in results["accuracy"] if a.get("n")), "?")
        lines += [
            f"## Accuracy on {n} Fashion-MNIST test images",
            "",
            "Agreement = share of images whose top-1 class equals PyTorch FP32's; "
            "max |Δ| and cosine compare logits with PyTorch FP32.",
            "",
            "| backend | precision | variant | status | top-1 % | agreement % | max abs Δ | "
            "cosine (mean / min) |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        for a in results["accuracy"]:
            if _key(a) in unmeasured:
                continue
            status = a["status"] if a["status"] == "ok" else f"{a['status']}: {a['reason']}"
            if a["status"] == "ok":
                cells = (
                    f"{a['top1']:.2f} | {a['agreement']:.2f} | {a['max_abs_diff']:.2e} | "
                    f"{a['cosine_mean']:.6f} / {a['cosine_min']:.6f}"
                )
            else:
                cells = " |  |  | "
            lines.append(
                f"| {a['backend']} | {a['precision']} | {a['variant']} | "
                f"{status.replace('|', '/')} | {cells} |"
            )
        lines.append("")
    for p in plots or []:
        lines += [f"![{p}]({p})", ""]
    return "\n".join(lines)


# ---- plots ----
def write_plots(results: dict[str, Any], out: Path) -> list[str]:
    """Latency and throughput vs batch (log-log, one line per case), accuracy per variant."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from vggdeploy._optional import require

    require("matplotlib", purpose="bench plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    series: dict[str, list[dict[str, Any]]] = {}
    for r in results["rows"]:
        if r["status"] == "ok":
            series.setdefault(_label(r), []).append(r)
    for name, key, ylabel in (
        ("latency_vs_batch.png", "p50", "p50 latency (ms)"),
        ("throughput_vs_batch.png", "throughput", "throughput (images/s)"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label, rows in sorted(series.items()):
            rows = sorted(rows, key=lambda r: r["batch"])
            xs = [r["batch"] for r in rows]
            if key == "p50":
                ys = [r["latency_ms"]["p50"] for r in rows]
                lo = [r["latency_ms"]["p50"] - r["latency_ms"]["min"] for r in rows]
                hi = [r["latency_ms"]["p90"] - r["latency_ms"]["p50"] for r in rows]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
            else:
                ax.plot(xs, [r["throughput_ips"] for r in rows], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel + (" — bars: min..p90" if key == "p50" else ""))
        ax.set_title(f"{results['model']['preset']} on {results['config']['device']}")
        ax.grid(True, which="both", alpha=0.3)
        if series:
            ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        written.append(name)
    acc = [a for a in results.get("accuracy", []) if a["status"] == "ok"]
    if acc:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        labels = [_label(a) for a in acc]
        bars = ax.bar(range(len(acc)), [a["top1"] for a in acc], color="tab:blue")
        ax.bar_label(bars, labels=[f"{a['top1']:.2f}" for a in acc], fontsize=8)
        ax.set_xticks(range(len(acc)), labels, rotation=30, ha="right", fontsize=8)
        low = min(a["top1"] for a in acc)
        ax.set_ylim(max(0.0, low - 5), 100)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(f"accuracy on {acc[0]['n']} test images")
        fig.tight_layout()
        with atomic_path(out / "accuracy.png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        written.append("accuracy.png")
    return written


OUTPUT_FILES = ("results.json", "results.csv", "report.md", *PLOTS)


def output_dir(run: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where bench writes: ``out_dir``, by default RUN/bench."""
    return Path(out_dir) if out_dir is not None else Path(run) / BENCH_DIR


def write_outputs(
    results: dict[str, Any], out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """results.json, results.csv, plots and report.md (which links the plots) in ``out_dir``
    (default: RUN/bench of the measured run), all or nothing: every file is staged first and the
    set is published together, so a full disk never leaves new JSON beside old plots."""
    out = output_dir(results["run"], out_dir)
    with staged_files(out, replaces=OUTPUT_FILES) as stage:
        write_json(stage / "results.json", results)
        write_text(stage / "results.csv", to_csv(results))
        plots = write_plots(results, stage)
        write_text(stage / "report.md", to_markdown(results, plots))
    paths = {"json": out / "results.json", "csv": out / "results.csv", "md": out / "report.md"}
    paths.update({p: out / p for p in plots})
    return paths


# ---- terminal ----
# The full table is about 120 columns wide; below that the compact layout drops p99 and MB, joins
# backend/precision/variant into one column and lets only text wrap. Numbers never shrink.
WIDE = 120


def rich_table(results: dict[str, Any], width: int | None = None) -> tuple[Any, list[str]]:
    """(table, notes): one row per measured case and batch; reasons go to numbered notes so the
    table stays narrow. A case skipped or failed at every batch is shown once. ``width`` is the
    terminal's; below :data:`WIDE` columns the compact layout is used."""
    from rich import box
    from rich.table import Table

    compact = width is not None and width < WIDE
    acc = _accuracy_by_key(results)
    unmeasured = _unmeasured(results)
    notes: list[str] = []
    shown: set[tuple[str, str, str]] = set()
    body: list[tuple[list[str], list[str], str, str]] = []  # (case cells, numbers, status, style)
    for r in results["rows"]:
        key = _key(r)
        if key in unmeasured:
            if key in shown:
                continue
            shown.add(key)
        a = acc.get(key) or {}
        lat = r.get("latency_ms")
        status = r["status"]
        if r["reason"]:
            if r["reason"] not in notes:
                notes.append(r["reason"])
            status += f" [{notes.index(r['reason']) + 1}]"
        numbers = {
            "batch": "" if key in unmeasured else str(r["batch"]),
            "p50 ms": _f(lat and lat["p50"]),
            "p99 ms": _f(lat and lat["p99"]),
            "img/s": _f(r["throughput_ips"], ".0f"),
            "×torch": _f(r["speedup_vs_torch_fp32"], ".2f"),
            "top-1%": _f(a.get("top1"), ".2f"),
            "agree%": _f(a.get("agreement"), ".2f"),
            "MB": _f(r["artifact_mb"], ".2f"),
        }
        if compact:
            for k in ("p99 ms", "MB"):
                numbers.pop(k)
            variant = "" if r["variant"] in ("-", "") else f" {r['variant']}"
            cases = [f"{r['backend']} {r['precision']}{variant}"]
        else:
            cases = [r["backend"], r["precision"], r["variant"]]
        style = {"ok": "", "failed": "red", "skipped": "dim", "stale": "yellow"}[r["status"]]
        body.append((cases, list(numbers.values()), status, style))
        number_names = list(numbers)
    t = Table(
        title=f"vggdeploy bench · {results['model']['preset']} · {results['config']['device']}",
        box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        pad_edge=not compact,
        padding=(0, 1) if not compact else (0, 0),
    )
    for name in ["case"] if compact else ["backend", "prec", "variant"]:
        t.add_column(name, overflow="fold", min_width=11 if compact else None)
    if not body:
        number_names = ["batch", "p50 ms", "img/s", "×torch"]
    for name in number_names:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("status", overflow="fold", min_width=7 if compact else None)
    for cases, numbers, status, style in body:
        t.add_row(*cases, *numbers, status, style=style)
    return t, [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
