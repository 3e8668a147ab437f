"""Matching FP32 layers to their counterparts in real FP16 / INT8 variants, and their errors."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from vggdeploy.artifacts.onnx_meta import read_onnx_spec
from vggdeploy.data import load_split, preprocess
from vggdeploy.debug.layers import first_divergent, layer_errors, match_layers, rank_growth


def _load(run: Path, tag: str):
    name = "model.onnx" if tag == "fp32" else f"model.{tag}.onnx"
    return onnx.load(str(run / name))


def _images(run: Path, data: Path, n: int = 64):
    spec = read_onnx_spec(run / "model.onnx")
    return preprocess(load_split("test", data).images[:n], spec)


@pytest.mark.parametrize("tag", ["fp16", "int8", "int8-cpu"])
def test_every_fp32_layer_has_a_counterpart(debug_run, tag):
    fp32, variant = _load(debug_run, "fp32"), _load(debug_run, tag)
    matches, unmatched = match_layers(fp32, variant)
    assert unmatched == []
    covered = {m.layer for m in matches} | {f for m in matches for f in m.fused}
    compute = [n.name for n in fp32.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(compute) == 10 and set(compute) <= covered
    assert [m.depth for m in matches] == sorted(m.depth for m in matches)
    variant_tensors = {o for n in variant.graph.node for o in n.output}
    assert all(m.variant_tensor in variant_tensors for m in matches)
    last = matches[-1]
    assert last.fp32_tensor == fp32.graph.output[0].name
    if tag == "fp16":  # the last layer's FP16 output is cast to the FP32 graph output
        assert last.variant_tensor != last.fp32_tensor
        assert all(not m.fused for m in matches)
    if tag == "int8-cpu":  # Conv+Relu fused; the Q/DQ after the Conv does the clamping
        fused = [m for m in matches if m.fused]
        assert fused and all(m.op_type in ("Conv+Relu", "Gemm+Relu") for m in fused)
        assert all(m.variant_tensor.endswith("_DequantizeLinear_Output") for m in fused)


def test_matching_by_tensor_names_when_node_names_differ(debug_run):
    fp32, variant = _load(debug_run, "fp32"), _load(debug_run, "int8")
    for i, node in enumerate(variant.graph.node):
        node.name = f"renamed_{i}"
    matches, unmatched = match_layers(fp32, variant)
    assert unmatched == [] and len(matches) == len(match_layers(fp32, _load(debug_run, "int8"))[0])


def test_healthy_variants_stay_above_threshold(debug_run, fake_data):
    x = _images(debug_run, fake_data)
    fp32 = _load(debug_run, "fp32")
    snr = {}
    for tag in ("fp16", "int8"):
        variant = _load(debug_run, tag)
        matches, _ = match_layers(fp32, variant)
        rows = layer_errors(fp32, variant, x, matches, chunk=24)
        assert all(r["n"] == len(x) and r["finite"] for r in rows)
        assert first_divergent(rows, 20.0) is None
        ranked = rank_growth(rows)
        assert ranked[0]["growth"] >= ranked[-1]["growth"]
        snr[tag] = min(r["snr_db"] for r in rows)
    assert snr["fp16"] > 45.0 > snr["int8"] > 20.0  # FP16 is far closer to FP32 than INT8


def test_summary_warns_when_the_variant_changed_after_export():
    from vggdeploy.debug.report import summary_lines

    result = {
        "variant": "model.int8.onnx",
        "fp32_model": "run/model.onnx",
        "images": 256,
        "threshold_db": 20.0,
        "output": {"accuracy": 0.9, "fp32_accuracy": 0.9, "drop_pt": 0.0, "agreement": 0.86,
                   "max_abs": 0.03},
        "export_report": {"n": 256, "accuracy": 0.9, "agreement": 1.0},
        "first_divergent": None,
        "growth_ranking": [{"layer": "a", "growth": 0.1}],
        "unmatched": [],
    }  # fmt: skip
    assert any(line.startswith("WARNING") for line in summary_lines(result))
    result["export_report"]["agreement"] = 0.86
    assert not any(line.startswith("WARNING") for line in summary_lines(result))
    result["export_report"] = {"n": 10000, "accuracy": 0.5, "agreement": 0.5}  # other images
    assert not any(line.startswith("WARNING") for line in summary_lines(result))


def test_report_json_is_strict_even_with_exact_layers(tmp_path):
    import json

    from vggdeploy.debug.report import write_reports

    row = {"layer": "a", "op_type": "Conv", "fp32_tensor": "t", "max_abs": 0.0, "rel_l2": 0.0,
           "cosine_min": 1.0, "snr_db": float("inf"), "growth": 0.0}  # fmt: skip
    result = {
        "variant": "model.fp16.onnx", "fp32_model": "model.onnx", "images": 4,
        "threshold_db": 20.0, "layers": [row], "first_divergent": None,
        "growth_ranking": [{"layer": "a", "growth": 0.0}], "unmatched": [], "export_report": None,
        "output": {"accuracy": 1.0, "fp32_accuracy": 1.0, "drop_pt": 0.0, "agreement": 1.0,
                   "max_abs": 0.0},
    }  # fmt: skip
    files = write_reports(result, tmp_path, "fp16")
    text = (tmp_path / "fp16.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert json.loads(text)["layers"][0]["snr_db"] == "inf"
    assert (
        set(files) == {"json", "md", "png"} and "| a | Conv |" in (tmp_path / "fp16.md").read_text()
    )
