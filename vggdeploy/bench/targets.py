"""The project's CPU performance targets, checked against a results.json (no numbers typed by hand).

* best backend >= 4x PyTorch eager FP32 at batch 1, >= 3x at batch 64;
* INT8 >= 1.5x ONNX Runtime FP32 at batch 64 with <= 0.3 point top-1 drop (224 preset);
* each precision's best row as a share of the measured GEMM ceiling of that precision
  (bench/ceilings.py), and the fp32 formula peak (sysinfo.cpu_peak) against the measured one.
"""

from __future__ import annotations

from typing import Any

TARGET_SPEEDUP = {1: 4.0, 64: 3.0}
TARGET_INT8_SPEEDUP = 1.5
TARGET_INT8_DROP_PT = 0.3


def _ok(results: dict[str, Any], batch: int) -> list[dict[str, Any]]:
    return [r for r in results["rows"] if r["status"] == "ok" and r["batch"] == batch]


def _name(r: dict[str, Any]) -> str:
    v = r["variant"]
    return f"{r['backend']} {r['precision']}" + (f" ({v})" if v not in ("-", "eager") else "")


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per target: what was measured, the target, met (True/False/None = not measured)."""
    out: list[dict[str, Any]] = []
    for batch, target in TARGET_SPEEDUP.items():
        rows = [
            r
            for r in _ok(results, batch)
            if r.get("speedup_vs_torch_fp32") is not None
            and (r["backend"], r["precision"], r["variant"]) != ("torch", "fp32", "eager")
        ]
        best = max(rows, key=lambda r: r["speedup_vs_torch_fp32"], default=None)
        out.append(
            {
                "target": f"best backend >= {target:g}x PyTorch eager FP32 at batch {batch}",
                "measured": f"{best['speedup_vs_torch_fp32']:.2f}x ({_name(best)})"
                if best
                else f"nothing but the reference measured at batch {batch}",
                "met": best["speedup_vs_torch_fp32"] >= target if best else None,
            }
        )
    acc = {(a["backend"], a["precision"], a["variant"]): a for a in results.get("accuracy", [])}
    rows64 = {(r["backend"], r["precision"], r["variant"]): r for r in _ok(results, 64)}
    ort32 = rows64.get(("onnxruntime", "fp32", "-"))
    ref_acc = acc.get(("torch", "fp32", "eager"), {}).get("top1")
    int8 = [r for k, r in rows64.items() if k[1] == "int8"]
    if not int8 or ort32 is None:
        out.append(
            {
                "target": f"INT8 >= {TARGET_INT8_SPEEDUP}x ONNX Runtime FP32 at batch 64, "
                f"<= {TARGET_INT8_DROP_PT} pt top-1 drop",
                "measured": "not measured (needs onnxruntime fp32 and an int8 row at batch 64)",
                "met": None,
            }
        )
    for r in int8 if ort32 is not None else []:
        ratio = ort32["latency_ms"]["p50"] / r["latency_ms"]["p50"]
        top1 = acc.get((r["backend"], r["precision"], r["variant"]), {}).get("top1")
        drop = ref_acc - top1 if (ref_acc is not None and top1 is not None) else None
        drop_txt = f"{drop:+.2f} pt drop" if drop is not None else "accuracy not measured"
        out.append(
            {
                "target": f"{_name(r)} >= {TARGET_INT8_SPEEDUP}x ONNX Runtime FP32 at batch 64, "
                f"<= {TARGET_INT8_DROP_PT} pt top-1 drop vs PyTorch FP32",
                "measured": f"{ratio:.2f}x, {drop_txt}",
                "met": (ratio >= TARGET_INT8_SPEEDUP and drop is not None)
                and drop <= TARGET_INT8_DROP_PT,
            }
        )
    out += _ceiling_targets(results)
    return out


def _ceiling_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each precision's best row as a share of the machine's measured GEMM ceiling of that
    precision (bench/ceilings.py); results without ceilings (older runs) fall back to the
    formula peak of sysinfo.cpu_peak for fp32 and int8. Reported, not pass/fail."""
    env = results["environment"]
    on_cpu = results["config"]["device"] == "cpu"
    measured = (env.get("ceilings") or {}).get("precisions") or {}
    peak = env["cpu_peak"]
    out = []
    for precision in ("fp32", "bf16", "int8"):
        entry = measured.get(precision) or {}
        ceiling, source = entry.get("ops_per_s"), f"measured {entry.get('kernel')}"
        if not measured:  # an older results.json: the formula
            ceiling = peak.get({"fp32": "fp32_flops", "int8": "int8_ops"}.get(precision, ""))
            source = f"formula {peak['formula']}"
        rows = [
            r
            for r in results["rows"]
            if r["status"] == "ok" and r["precision"] == precision and r.get("gflops_per_s")
        ]
        best = max(rows, key=lambda r: r["gflops_per_s"], default=None)
        text = f"no {precision} row measured" if not best else "GPU run: no CPU ceiling"
        if best and ceiling and on_cpu:
            text = (
                f"{best['gflops_per_s'] / (ceiling / 1e9) * 100:.1f}% "
                f"({best['gflops_per_s']:.1f} G op/s, {_name(best)}, batch {best['batch']})"
            )
        out.append(
            {
                "target": f"best {precision} row's op/s as a share of this machine's {precision} "
                f"ceiling ({(ceiling or 0) / 1e9:.0f} G op/s, {source})",
                "measured": text,
                "met": None,  # reported, not a pass/fail target
            }
        )
    check = env.get("ceilings_vs_formula")
    if check and check.get("measured_over_formula"):
        out.append(
            {
                "target": "fp32 formula peak "
                f"({check['formula_fp32_flops'] / 1e9:.0f} GFLOP/s = {check['formula']}) "
                "against the measured fp32 GEMM",
                "measured": f"measured {check['measured_fp32_flops'] / 1e9:.0f} GFLOP/s = "
                f"{100 * check['measured_over_formula']:.0f}% of the formula",
                "met": None,
            }
        )
    return out


def targets_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"### Targets: {results['model']['preset']}",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in check_targets(results):
        met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    return "\n".join(lines) + "\n"
