"""debug-precision outputs: ``RUN/debug/<variant>.json`` (everything), ``<variant>.md`` (the
tables), ``<variant>.png`` (SNR and relative L2 error by layer depth); all written atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vggdeploy._io import atomic_path, write_json, write_text
from vggdeploy._text import escape, md_cell


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
    cell = md_cell if markdown else escape
    rows = []
    for i, r in enumerate(result["layers"], 1):
        rows.append(
            [
                str(i),
                cell(r["layer"]),  # names from the ONNX graph: not ours, escaped
                cell(r["op_type"]),
                cell(r["fp32_tensor"]),
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
            "| " + " | ".join(md_cell(h) for h in head[:-1]) + " | |",  # max|Δ| is one cell
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
    """The summary in words; names from the model files are escaped (one line stays one)."""
    return [escape(line) for line in _summary_lines(result)]


def _summary_lines(result: dict[str, Any]) -> list[str]:
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
    """The sensitivity result; names from the model files are escaped."""
    return [escape(line) for line in _sensitivity_lines(sens, markdown=markdown)]


def _sensitivity_lines(sens: dict[str, Any], *, markdown: bool = False) -> list[str]:
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


def write_reports(
    result: dict[str, Any], out_dir: Path, tag: str, *, force: bool = False
) -> dict[str, str]:
    """Write ``out_dir/<tag>.{json,md,png}`` all-or-nothing (a full disk leaves the previous
    reports exactly as they were, exit 8) and record them (``artifacts.written``): a file of those
    names that vggdeploy did not write, or that was edited since, is refused unless ``force``.
    Returns their paths."""
    from vggdeploy.artifacts.written import owned_outputs

    names = {k: f"{tag}.{k}" for k in ("json", "md", "png")}
    md = [f"# Precision debug: {result['variant']}", "", *summary_lines(result), ""]
    md += layer_table(result, markdown=True)
    if result.get("sensitivity"):
        md += ["", *sensitivity_lines(result["sensitivity"], markdown=True)]
    with owned_outputs(
        out_dir, names.values(), command="debug-precision", force=force, what="debug-precision"
    ) as stage:
        write_json(stage / names["json"], _strict(json.loads(json.dumps(result, default=str))))
        write_text(stage / names["md"], "\n".join(md) + "\n")
        if not _plot(result, stage / names["png"]):
            names.pop("png")  # no matplotlib: an older plot is removed, not left beside these
    return {k: str(out_dir / v) for k, v in names.items()}


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
