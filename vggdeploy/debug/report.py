"""debug-precision outputs: ``RUN/debug/<variant>.json`` (everything), ``<variant>.md`` (the
tables), ``<variant>.png`` (SNR and relative L2 error by layer depth); all written atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vggdeploy._io import atomic_path, write_json, write_text


def _num(v: float | None, fmt: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, fmt)


def layer_table(result: dict[str, Any], *, markdown: bool = False) -> list[str]:
    """The per-layer table (depth order); the first divergent layer is marked."""
    first = (result.get("first_divergent") or {}).get("layer")
    head = ["#", "layer", "op", "tensor", "max|Δ|", "rel L2", "cos min", "SNR dB", "growth", ""]
    rows = []
    for i, r in enumerate(result["layers"], 1):
        rows.append(
            [
                str(i),
                r["layer"],
                r["op_type"],
                r["fp32_tensor"],
                _num(r["max_abs"], ".3g"),
                _num(r["rel_l2"], ".4f"),
                _num(r["cosine_min"], ".5f"),
                _num(r["snr_db"], ".1f"),
                _num(r["growth"], "+.4f"),
                "<- first divergent" if r["layer"] == first else "",
            ]
        )
    if markdown:
        return [
            "| " + " | ".join(head[:-1]) + " | |",
            "|" + "|".join("---" if i < 4 else "---:" for i in range(len(head) - 1)) + "|---|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(  # noqa: E731
        c.ljust(w) if i < 4 or i == len(row) - 1 else c.rjust(w)
        for i, (c, w) in enumerate(zip(row, widths, strict=True))
    ).rstrip()
    return [fmt(head), *(fmt(row) for row in rows)]


def summary_lines(result: dict[str, Any]) -> list[str]:
    out = result["output"]
    lines = [
        f"{result['variant']} vs {Path(result['fp32_model']).name} on {result['images']} test "
        f"images: accuracy {100 * out['accuracy']:.2f}% (FP32 {100 * out['fp32_accuracy']:.2f}%, "
        f"drop {out['drop_pt']:+.2f} pt), top-1 agreement {100 * out['agreement']:.2f}%, "
        f"logits max|Δ| {_num(out['max_abs'], '.3g')}",
    ]
    exported = result.get("export_report")
    if exported:
        same = "same images" if exported["n"] == result["images"] else f"{exported['n']} images"
        lines.append(
            f"export stage reported: accuracy {100 * exported['accuracy']:.2f}%, agreement "
            f"{100 * exported['agreement']:.2f}% ({same})"
        )
        if exported["n"] == result["images"] and (
            abs(exported["accuracy"] - out["accuracy"]) > 1e-9
            or abs(exported["agreement"] - out["agreement"]) > 1e-9
        ):
            lines.append(
                f"WARNING: {result['variant']} no longer gives what the export stage measured on "
                "the same images: the file changed after export (or its report is stale)"
            )
    first = result.get("first_divergent")
    thr = result["threshold_db"]
    if first:
        lines.append(
            f"first divergent layer (SNR < {thr:g} dB): {first['layer']} ({first['op_type']}, "
            f"tensor {first['fp32_tensor']}): SNR {_num(first['snr_db'], '.1f')} dB, "
            f"rel L2 {_num(first['rel_l2'], '.4f')}"
        )
    else:
        lines.append(f"no layer falls below {thr:g} dB SNR")
    top = ", ".join(f"{g['layer']} ({g['growth']:+.4f})" for g in result["growth_ranking"][:3])
    lines.append(f"largest error growth (rel L2 added): {top}")
    if result.get("unmatched"):
        lines.append(f"FP32 layers without a counterpart: {', '.join(result['unmatched'])}")
    return lines


def sensitivity_lines(sens: dict[str, Any], *, markdown: bool = False) -> list[str]:
    b = sens["baseline"]
    lines = [
        f"sensitivity ({sens['n']} images; FP32 accuracy {100 * sens['fp32_accuracy']:.2f}%; "
        f"variant as exported {100 * b['accuracy']:.2f}%, agreement {100 * b['agreement']:.2f}%):",
    ]
    head = ["rank", "kept in FP32", "accuracy", "drop pt", "agreement"]
    rows = [
        [
            str(r["rank"]),
            r["layer"],
            f"{100 * r['accuracy']:.2f}%",
            f"{r['drop_pt']:+.2f}",
            f"{100 * r['agreement']:.2f}%",
        ]
        for r in sens["layers"]
    ]
    if markdown:
        lines += ["", "| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    else:
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        for row in [head, *rows]:
            lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    t = sens["target"]
    target = f"drop <= {t['max_drop_pt']:.2f} pt" + (
        f", agreement >= {100 * t['min_agreement']:g}%" if t["min_agreement"] is not None else ""
    )
    keep = sens["recommended_keep_fp32"]
    if keep is None:
        lines.append(f"no set of layers kept in FP32 meets the target ({target})")
    elif not keep:
        lines.append(f"the variant meets the target as exported ({target}): keep nothing in FP32")
    else:
        lines.append(
            f"recommended (smallest greedy set meeting {target}): --keep-fp32 {','.join(keep)}"
        )
    return lines


def write_reports(result: dict[str, Any], out_dir: Path, tag: str) -> dict[str, str]:
    """Write ``out_dir/<tag>.{json,md,png}``; returns their paths."""
    paths = {k: out_dir / f"{tag}.{k}" for k in ("json", "md", "png")}
    write_json(paths["json"], _strict(json.loads(json.dumps(result, default=str))))
    md = [f"# Precision debug: {result['variant']}", "", *summary_lines(result), ""]
    md += layer_table(result, markdown=True)
    if result.get("sensitivity"):
        md += ["", *sensitivity_lines(result["sensitivity"], markdown=True)]
    write_text(paths["md"], "\n".join(md) + "\n")
    if not _plot(result, paths["png"]):
        paths.pop("png")
    return {k: str(v) for k, v in paths.items()}


def _strict(obj: Any) -> Any:
    """Non-finite floats (SNR of an exact layer is inf) as the strings "inf"/"-inf"/"nan", so
    the file is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strict(v) for v in obj]
    return obj


def _plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the JSON and Markdown carry the data
        return False
    rows = result["layers"]
    depth = list(range(1, len(rows) + 1))
    snr = [min(r["snr_db"], 200.0) for r in rows]
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    a.plot(depth, snr, marker="o")
    a.axhline(result["threshold_db"], color="red", linestyle="--", label="threshold")
    a.set_ylabel("SNR (dB)")
    a.set_title(f"{result['variant']} vs FP32, {result['images']} test images")
    b.semilogy(depth, [max(r["rel_l2"], 1e-12) for r in rows], marker="o", color="tab:orange")
    b.set_ylabel("relative L2 error")
    b.set_xlabel("layer (FP32 depth order)")
    b.set_xticks(depth, [r["layer"] for r in rows], rotation=70, fontsize=7)
    first = result.get("first_divergent")
    if first:
        i = next(i for i, r in enumerate(rows, 1) if r["layer"] == first["layer"])
        a.axvline(i, color="grey", alpha=0.5, label=f"first divergent: {first['layer']}")
    a.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return True
