"""`vggdeploy bench` on a tiny run with fake data: outputs, schema, skipped/failed rows, errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import calibration_batch, export_fp32, quantize_int8, tag_onnx_file

from vggdeploy.bench.accuracy import logit_metrics
from vggdeploy.bench.latency import summarize
from vggdeploy.bench.report import rich_table, write_outputs
from vggdeploy.bench.run import SCHEMA, SCHEMA_VERSION, BenchConfig, run_bench
from vggdeploy.bench.sysinfo import cpu_peak
from vggdeploy.errors import ArtifactError, DataError, UsageError

QUICK = dict(
    batch_sizes=[1, 4],
    warmup=1,
    iters=4,
    repeats=2,
    threads=1,
    limit_test=64,
)


@pytest.fixture(scope="module")
def bench_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with model.onnx and both INT8 variants (no fp16: that row must be skipped)."""
    run = tmp_path_factory.mktemp("bench") / "run"
    shutil.copytree(_trained_run, run)
    export_fp32(run, run / "model.onnx")
    from vggdeploy.artifacts.onnx_meta import read_onnx_spec

    calib = calibration_batch(read_onnx_spec(run / "model.onnx"))
    quantize_int8(run / "model.onnx", run / "model.int8-cpu.onnx", calib)
    shutil.copy(run / "model.int8-cpu.onnx", run / "model.int8.onnx")
    # what each file is comes from its content: record the tags as the precision stage does
    tag_onnx_file(run / "model.int8-cpu.onnx", "int8-cpu", source=run / "model.onnx")
    tag_onnx_file(run / "model.int8.onnx", "int8", source=run / "model.onnx")
    return run


def _fresh(bench_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(bench_run, run)
    return run


def _rows(results, backend, precision=None, variant=None):
    return [
        r
        for r in results["rows"]
        if r["backend"] == backend
        and (precision is None or r["precision"] == precision)
        and (variant is None or r["variant"] == variant)
    ]


def test_bench_writes_all_outputs_with_schema(bench_run, fake_data, tmp_path):
    cfg = BenchConfig(
        run=bench_run,
        backends=["torch", "onnxruntime", "tensorrt", "inductor"],
        precisions=["fp32", "fp16", "int8"],
        data_dir=str(fake_data),
        **QUICK,
    )
    results = run_bench(cfg)
    paths = write_outputs(results, tmp_path / "out")

    data = json.loads(paths["json"].read_text())
    assert data["schema"] == SCHEMA and data["version"] == SCHEMA_VERSION
    env = data["environment"]
    assert env["cpu"]["physical_cores"] >= 1 and env["libraries"]["onnxruntime"]
    assert env["cpu_peak"]["formula"] and "torch" in env["libraries"]
    assert data["model"]["preset"] == "vgg-mini" and data["model"]["flops_per_image"] > 0

    ok = [r for r in data["rows"] if r["status"] == "ok"]
    keys = {(r["backend"], r["precision"], r["variant"]) for r in ok}
    assert keys == {
        ("torch", "fp32", "eager"),
        ("onnxruntime", "fp32", "-"),
        ("onnxruntime", "int8", "tensorrt"),
        ("onnxruntime", "int8", "cpu"),
    }
    for r in ok:
        lat = r["latency_ms"]
        assert lat["n"] == 4 and lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert len(r["round_p50_ms"]) == 2
        assert r["throughput_ips"] == pytest.approx(r["batch"] / lat["p50"] * 1e3)
        assert r["speedup_vs_torch_fp32"] > 0 and r["artifact_mb"] > 0
    for r in _rows(data, "torch", "fp32"):
        assert r["speedup_vs_torch_fp32"] == pytest.approx(1.0)

    fp16 = _rows(data, "onnxruntime", "fp16")
    assert fp16 and all(r["status"] == "skipped" and "model.fp16.onnx" in r["reason"] for r in fp16)
    for backend in ("tensorrt", "inductor"):
        rows = _rows(data, backend)
        assert rows and all(r["status"] == "skipped" for r in rows)
    torch_int8 = _rows(data, "torch", "int8")
    assert all(r["status"] == "skipped" and "int8" in r["reason"] for r in torch_int8)

    acc = {(a["backend"], a["precision"], a["variant"]): a for a in data["accuracy"]}
    assert acc[("onnxruntime", "fp32", "-")]["agreement"] == pytest.approx(100.0)
    assert acc[("onnxruntime", "fp32", "-")]["max_abs_diff"] < 1e-3
    assert acc[("onnxruntime", "int8", "cpu")]["n"] == 64
    assert acc[("torch", "fp32", "eager")]["cosine_min"] == pytest.approx(1.0)

    with paths["csv"].open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(data["rows"])
    assert {"p50_ms", "p99_ms", "throughput_ips", "top1", "status"} <= set(table[0])

    md = paths["md"].read_text()
    assert "## Batch 1" in md and "## Batch 4" in md and "## Not measured" in md
    assert "model.fp16.onnx" in md and "latency_vs_batch.png" in md
    for name in ("latency_vs_batch.png", "throughput_vs_batch.png", "accuracy.png"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes left no temp files

    table_obj, notes = rich_table(data)
    assert table_obj.row_count >= len(ok) and any("model.fp16.onnx" in n for n in notes)


def test_failing_backend_gives_failed_rows_and_others_continue(
    bench_run, fake_data, tmp_path, monkeypatch
):
    from vggdeploy.backends.onnxruntime import OnnxRuntimeRunner

    run = _fresh(bench_run, tmp_path)
    (run / "model.int8.onnx").write_bytes(b"corrupt")  # fails at activate
    real = OnnxRuntimeRunner._infer

    def flaky(self, batch):  # the int8-cpu model fails mid-run at batch 4 only
        if self.source.name == "model.int8-cpu.onnx" and len(batch) == 4:
            raise RuntimeError("simulated kernel crash")
        return real(self, batch)

    monkeypatch.setattr(OnnxRuntimeRunner, "_infer", flaky)
    cfg = BenchConfig(
        run=run,
        backends=["torch", "onnxruntime"],
        precisions=["fp32", "int8"],
        data_dir=str(fake_data),
        accuracy=True,
        **{**QUICK, "limit_test": 8},  # accuracy chunks of 4: int8-cpu fails there too
    )
    results = run_bench(cfg)
    # unreadable: its identity is unknown, so the row names the file and carries no precision
    broken = [r for r in results["rows"] if (r["artifact"] or "").endswith("model.int8.onnx")]
    assert broken and all(r["status"] == "failed" and r["precision"] == "?" for r in broken)
    assert all("model.int8.onnx" in r["reason"] for r in broken)
    cpu = {r["batch"]: r for r in _rows(results, "onnxruntime", "int8", "cpu")}
    assert cpu[1]["status"] == "ok"
    assert cpu[4]["status"] == "failed" and "simulated kernel crash" in cpu[4]["reason"]
    assert all(r["status"] == "ok" for r in _rows(results, "torch", "fp32"))
    assert all(r["status"] == "ok" for r in _rows(results, "onnxruntime", "fp32"))
    acc = {(a["backend"], a["variant"], a["precision"]): a for a in results["accuracy"]}
    assert acc[("onnxruntime", "cpu", "int8")]["status"] == "failed"
    assert acc[("onnxruntime", "-", "fp32")]["status"] == "ok"


def test_artifact_of_another_model_is_a_failed_row(bench_run, fake_data, tmp_path):
    import onnx

    from vggdeploy.artifacts.onnx_meta import read_onnx_spec, set_spec_metadata

    run = _fresh(bench_run, tmp_path)
    spec = read_onnx_spec(run / "model.onnx")
    other = dataclasses.replace(spec, class_names=tuple(f"c{i}" for i in range(10)))
    proto = onnx.load(str(run / "model.onnx"))
    set_spec_metadata(proto, other)
    onnx.save(proto, str(run / "model.onnx"))
    cfg = BenchConfig(
        run=run,
        backends=["onnxruntime"],
        precisions=["fp32"],
        data_dir=str(fake_data),
        accuracy=False,
        **QUICK,
    )
    results = run_bench(cfg)
    rows = _rows(results, "onnxruntime", "fp32")
    # its ModelSpec is not the run's model.json: a stale row (provenance covers the meaning)
    assert rows and all(r["status"] == "stale" for r in rows)
    assert "another ModelSpec" in rows[0]["reason"] and "class_names" in rows[0]["reason"]
    # the reference is measured even though torch was not asked for: speed-ups need it
    assert all(r["status"] == "ok" for r in _rows(results, "torch", "fp32"))
    assert results["accuracy"] == []


def test_batch_outside_a_static_artifact_is_skipped(bench_run, fake_data, tmp_path):
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint
    from vggdeploy.artifacts.onnx_meta import read_onnx_spec

    run = _fresh(bench_run, tmp_path)
    static = tmp_path / "static.onnx"
    model, spec = load_checkpoint(run)
    import warnings

    import onnx

    from vggdeploy.artifacts.onnx_meta import set_spec_metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(spec.input.shape(4)),),
            str(static),
            input_names=["input"],
            output_names=["logits"],
            dynamo=False,
        )
    proto = onnx.load(str(static))
    set_spec_metadata(proto, spec)
    onnx.save(proto, str(static))
    assert read_onnx_spec(static).fingerprint() == spec.fingerprint()
    cfg = BenchConfig(
        run=run,
        backends=["torch", "onnxruntime"],
        precisions=["fp32"],
        artifacts=[static],
        data_dir=str(fake_data),
        **{**QUICK, "limit_test": 10},
    )
    results = run_bench(cfg)
    rows = {r["batch"]: r for r in _rows(results, "onnxruntime", "fp32", "static")}
    assert rows[1]["status"] == "skipped" and "outside" in rows[1]["reason"]
    assert rows[4]["status"] == "ok"
    acc = next(a for a in results["accuracy"] if a["variant"] == "static")
    assert acc["status"] == "ok" and acc["n"] == 10 and acc["agreement"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"backends": ["torch", "tflite"]}, UsageError, "tflite"),
        ({"precisions": ["fp8"]}, UsageError, "fp8"),
        ({"batch_sizes": [0, 8]}, UsageError, "batch sizes"),
        ({"batch_sizes": "1,x"}, UsageError, "integers"),
        ({"iters": 0}, UsageError, "--iters"),
        ({"repeats": 0}, UsageError, "--repeats"),
        ({"device": "tpu"}, UsageError, "device"),
    ],
)
def test_bad_options_are_usage_errors(bench_run, fake_data, change, error, match):
    cfg = BenchConfig(run=bench_run, data_dir=str(fake_data), **{**QUICK, **change})
    with pytest.raises(error, match=match) as info:
        run_bench(cfg)
    if "backends" in change:
        assert "onnxruntime" in info.value.hint and "tensorrt" in info.value.hint


def test_missing_test_data_and_missing_run(bench_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="not found"):
        run_bench(BenchConfig(run=bench_run, data_dir=str(empty), **QUICK))
    with pytest.raises(ArtifactError, match="checkpoint"):
        run_bench(BenchConfig(run=tmp_path / "no-run", data_dir=str(empty), **QUICK))


def test_cli_bench_end_to_end_and_errors(bench_run, fake_data, tmp_path, capsys):
    from vggdeploy.cli import main

    out = tmp_path / "cli-out"
    args = ["bench", str(bench_run), "--backends", "torch,onnxruntime", "--precisions"]
    args += ["fp32,int8", "--batch-sizes", "1,2", "--iters", "2", "--warmup", "1", "--repeats"]
    args += ["1", "--threads", "1", "--limit-test", "16", "--data-dir", str(fake_data)]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vggdeploy bench" in printed and "onnxruntime" in printed
    for name in ("results.json", "results.csv", "report.md", "latency_vs_batch.png"):
        assert (out / name).is_file()

    assert main(["bench", str(bench_run), "--backends", "torch,tflite"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'tflite'" in err and "valid backends: torch, onnxruntime" in err
    assert main(["bench", str(bench_run), "--precisions", "int4"]) == 2


def test_summarize_and_logit_metrics_are_exact():
    stats = summarize([0.001, 0.002, 0.003, 0.004, 0.010])
    assert stats["min"] == pytest.approx(1.0) and stats["max"] == pytest.approx(10.0)
    assert stats["p50"] == pytest.approx(3.0) and stats["mean"] == pytest.approx(4.0)
    assert stats["p90"] == pytest.approx(7.6) and stats["n"] == 5
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    out = np.array([[1.0, 0.5], [1.0, 0.0], [3.0, 1.0]])
    m = logit_metrics(out, np.array([0, 1, 1]), ref)
    assert m["top1"] == pytest.approx(100 / 3) and m["agreement"] == pytest.approx(200 / 3)
    assert m["max_abs_diff"] == pytest.approx(2.0) and m["cosine_min"] == pytest.approx(0.0)


def test_cpu_peak_formula(monkeypatch):
    monkeypatch.delenv("VGGDEPLOY_FMA_UNITS", raising=False)
    cpu = {"simd": ["avx2", "avx512f", "fma", "avx512_vnni"], "physical_cores": 2, "ghz": 2.0}
    peak = cpu_peak(cpu)
    assert peak["fp32_flops"] == pytest.approx(2 * 2.0e9 * 16 * 2 * 2)
    assert peak["int8_ops"] == pytest.approx(4 * peak["fp32_flops"])
    avx2 = cpu_peak({"simd": ["avx", "avx2", "fma"], "physical_cores": 4, "ghz": 3.0})
    assert avx2["fp32_flops"] == pytest.approx(4 * 3.0e9 * 8 * 2 * 2) and not avx2["vnni"]
    monkeypatch.setenv("VGGDEPLOY_FMA_UNITS", "1")
    assert cpu_peak(cpu)["fp32_flops"] == pytest.approx(2 * 2.0e9 * 16 * 2)
    assert cpu_peak({"simd": [], "physical_cores": 1, "ghz": None})["fp32_flops"] is None


def test_targets_table_from_results():
    from vggdeploy.bench.targets import check_targets, targets_markdown

    def row(backend, precision, variant, batch, p50, speedup, gflops):
        return {
            "backend": backend,
            "precision": precision,
            "variant": variant,
            "batch": batch,
            "status": "ok",
            "latency_ms": {"p50": p50},
            "speedup_vs_torch_fp32": speedup,
            "gflops_per_s": gflops,
        }

    results = {
        "model": {"preset": "d2l-vgg11-small"},
        "config": {"device": "cpu"},
        "environment": {
            "cpu_peak": {"fp32_flops": 256e9, "int8_ops": 1024e9, "formula": "2 x 2 x 16 x 2 x 2"}
        },
        "rows": [
            row("torch", "fp32", "eager", 1, 10.0, 1.0, 10.0),
            row("onnxruntime", "fp32", "-", 1, 2.0, 5.0, 50.0),
            row("torch", "fp32", "eager", 64, 300.0, 1.0, 20.0),
            row("onnxruntime", "fp32", "-", 64, 120.0, 2.5, 128.0),
            row("onnxruntime", "int8", "cpu", 64, 60.0, 5.0, 256.0),
        ],
        "accuracy": [
            {"backend": "torch", "precision": "fp32", "variant": "eager", "top1": 90.0},
            {"backend": "onnxruntime", "precision": "int8", "variant": "cpu", "top1": 89.5},
        ],
    }
    t = check_targets(results)
    assert t[0]["met"] is True and "5.00x (onnxruntime fp32)" in t[0]["measured"]
    assert t[1]["met"] is True and "5.00x" in t[1]["measured"]  # int8 is the best at 64
    int8 = next(x for x in t if "int8 (cpu) >=" in x["target"])
    assert int8["measured"] == "2.00x, +0.50 pt drop" and int8["met"] is False
    shares = [x["measured"] for x in t if "share" in x["target"]]  # fp32, bf16, int8
    assert shares[0].startswith("50.0%") and shares[2].startswith("25.0%")  # the formula
    assert shares[1] == "no bf16 row measured"
    assert "| **no** |" in targets_markdown(results)
    # with measured ceilings (bench/ceilings.py) the shares are of those, per precision
    results["environment"]["ceilings"] = {
        "precisions": {p: {"ops_per_s": 100e9, "kernel": "k"} for p in ("fp32", "bf16", "int8")}
    }
    results["environment"]["ceilings_vs_formula"] = {
        "formula_fp32_flops": 256e9, "measured_fp32_flops": 100e9,
        "measured_over_formula": 100 / 256, "formula": "2 x 2 x 16 x 2 x 2",
    }  # fmt: skip
    t = check_targets(results)
    shares = [x["measured"] for x in t if "share" in x["target"]]
    assert shares[0].startswith("128.0%") and shares[2].startswith("256.0%")
    assert any("39% of the formula" in x["measured"] for x in t)


def test_duration_mode_times_until_the_deadline(bench_run, fake_data):
    cfg = BenchConfig(
        run=bench_run,
        backends=["torch"],
        precisions=["fp32"],  # not bf16: bench skips it on CPUs without native BF16 (Zen 3)
        data_dir=str(fake_data),
        accuracy=False,
        **{**QUICK, "iters": None, "batch_sizes": [1, 2]},
        duration_s=0.2,
    )
    results = run_bench(cfg)
    assert results["config"]["iters"] is None and results["config"]["duration_s"] == 0.2
    assert len(results["rows"]) == 2
    for r in results["rows"]:
        assert r["status"] == "ok" and r["latency_ms"]["n"] >= 2 * 3  # >= 3 calls per round


def test_ort_tensorrt_ep_rows_are_skipped_without_the_provider(bench_run, fake_data):
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu with TensorRT is installed here")
    cfg = BenchConfig(
        run=bench_run,
        backends=["onnxruntime"],
        precisions=["fp32"],
        ort_tensorrt=True,
        data_dir=str(fake_data),
        accuracy=False,
        **{**QUICK, "batch_sizes": [1]},
    )
    results = run_bench(cfg)
    (trt,) = _rows(results, "onnxruntime", "fp32", "trt-ep")
    assert trt["status"] == "skipped" and "TensorrtExecutionProvider" in trt["reason"]
    assert _rows(results, "onnxruntime", "fp32", "-")[0]["status"] == "ok"


@pytest.mark.gpu
def test_bench_on_cuda_reports_gpu_split(bench_run, fake_data, tmp_path):
    cfg = BenchConfig(
        run=bench_run,
        backends=["torch", "onnxruntime"],
        precisions=["fp32", "fp16", "bf16"],
        device="cuda",
        data_dir=str(fake_data),
        **QUICK,
    )
    results = run_bench(cfg)
    write_outputs(results, tmp_path / "out")
    torch_rows = [r for r in _rows(results, "torch") if r["status"] == "ok"]
    assert {r["precision"] for r in torch_rows} == {"fp32", "fp16", "bf16"}
    for r in torch_rows:
        assert set(r["gpu_split_ms"]) == {"h2d", "compute", "d2h"}
        assert r["fp32_peak_share"] is None  # CPU peak does not apply to GPU rows
    assert results["environment"]["gpus"]
    assert "GPU time split" in (tmp_path / "out" / "report.md").read_text()
