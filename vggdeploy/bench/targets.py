"""The project's CPU performance targets, checked against a results.json (no numbers typed by hand).

* best backend >= 4x PyTorch eager FP32 at batch 1, >= 3x at batch 64;
* INT8 >= 1.5x ONNX Runtime FP32 at batch 64 with <= 0.3 point top-1 drop (224 preset);
* the best backend's achieved FLOP/s as a share of this CPU's peak (see sysinfo.cpu_peak).
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
    peak = results["environment"]["cpu_peak"]
    for precision, peak_key, unit in (
        ("fp32", "fp32_flops", "FLOP/s"),
        ("int8", "int8_ops", "op/s"),
    ):
        rows = [
            r
            for r in results["rows"]
            if r["status"] == "ok" and r["precision"] == precision and r.get("gflops_per_s")
        ]
        best = max(rows, key=lambda r: r["gflops_per_s"], default=None)
        peak_value = peak.get(peak_key) if results["config"]["device"] == "cpu" else None
        factor = "" if precision == "fp32" else f" x {peak_value / peak['fp32_flops']:g} (VNNI)"
        measured = f"no {precision} row measured" if not best else "GPU run: no CPU peak"
        if best and peak_value:
            measured = (
                f"{best['gflops_per_s'] / (peak_value / 1e9) * 100:.1f}% "
                f"({best['gflops_per_s']:.1f} G{unit}, {_name(best)}, batch {best['batch']})"
            )
        out.append(
            {
                "target": f"best {precision} backend's {unit} as a share of this CPU's "
                f"{precision} peak ({(peak_value or 0) / 1e9:.0f} G{unit} = "
                f"{peak['formula']}{factor})",
                "measured": measured,
                "met": None,  # reported, not a pass/fail target
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
