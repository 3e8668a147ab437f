"""Bench never measures an artifact made from another checkpoint: it reports a `stale` row."""

from __future__ import annotations

import json
from pathlib import Path

from onnx_artifacts import export_fp32, make_variant, reexport, retrain

from vggdeploy.bench.report import rich_table, write_outputs
from vggdeploy.bench.run import BenchConfig, run_bench

QUICK = dict(batch_sizes=[1, 4], warmup=1, iters=2, repeats=1, threads=1, limit_test=32)


def _bench(run: Path, fake_data: Path, **kw):
    cfg = BenchConfig(
        run=run, backends=["torch", "onnxruntime"], data_dir=str(fake_data), **QUICK, **kw
    )
    return run_bench(cfg)


def test_onnx_exported_before_a_new_training_is_a_stale_row(
    tiny_run: Path, fake_data: Path, tmp_path: Path
) -> None:
    export_fp32(tiny_run)
    retrain(tiny_run)  # the checkpoint changed after the export
    results = _bench(tiny_run, fake_data, precisions=["fp32"])
    ort = [r for r in results["rows"] if r["backend"] == "onnxruntime"]
    assert ort and all(r["status"] == "stale" for r in ort), ort  # before: "ok" rows
    assert all("re-export: vggdeploy export" in r["reason"] for r in ort)
    assert all(r["latency_ms"] is None for r in ort)  # not measured
    torch_rows = [r for r in results["rows"] if r["backend"] == "torch"]
    assert torch_rows and all(r["status"] == "ok" for r in torch_rows)
    acc = {a["backend"]: a for a in results["accuracy"]}
    assert acc["onnxruntime"]["status"] == "stale"  # no agreement figure against another model
    paths = write_outputs(results, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert {r["status"] for r in data["rows"] if r["backend"] == "onnxruntime"} == {"stale"}
    assert "stale: " in paths["md"].read_text()
    table, notes = rich_table(data)
    assert any("re-export" in n for n in notes)


def test_variant_of_a_reexported_model_onnx_is_stale_the_fresh_one_measured(
    tiny_run: Path, fake_data: Path
) -> None:
    export_fp32(tiny_run)
    make_variant(tiny_run, "fp16")
    reexport(tiny_run / "model.onnx")  # model.onnx changed: the fp16 variant is stale
    results = _bench(tiny_run, fake_data, precisions=["fp32", "fp16"])
    ort = [r for r in results["rows"] if r["backend"] == "onnxruntime"]
    assert {r["status"] for r in ort if r["precision"] == "fp32"} == {"ok"}
    fp16 = [r for r in ort if r["precision"] == "fp16"]
    assert fp16 and all(r["status"] == "stale" for r in fp16)
    assert "model.onnx" in fp16[0]["reason"] and "--precision fp16" in fp16[0]["reason"]
