"""The measured ceilings (bench/ceilings.py): the INT8 ceiling is the best INT8 GEMM the machine's
libraries reach, not one library's slow path (torch._int_mm without VNNI: ~2 G op/s, which every
INT8 backend beat tenfold on AMD Zen 3, so bench printed rows at 984 % of the "ceiling")."""

from __future__ import annotations

import pytest

from vggdeploy.bench import ceilings


def test_int8_ceiling_is_the_best_candidate_and_names_it():
    got = ceilings.measure_ceilings(2, sizes=(64, 128), round_s=0.01)["precisions"]["int8"]
    rates = {k: v for k, v in got["kernels"].items() if isinstance(v, float)}
    assert set(got["kernels"]) == {"torch._int_mm int8", "onnxruntime MatMulInteger u8s8"}
    assert "onnxruntime MatMulInteger u8s8" in rates  # ORT is a core dependency
    assert got["ops_per_s"] == max(rates.values())
    assert got["kernel"] == max(rates, key=rates.get)


def test_a_failing_candidate_is_recorded_and_the_other_sets_the_ceiling(monkeypatch):
    import torch

    def no_kernel(*_a, **_k):
        raise RuntimeError("_int_mm: not implemented for this CPU\nmore")

    monkeypatch.setattr(torch, "_int_mm", no_kernel)
    got = ceilings.measure_ceilings(1, sizes=(64,), round_s=0.01)["precisions"]["int8"]
    assert got["kernels"]["torch._int_mm int8"] == {
        "error": "_int_mm: not implemented for this CPU"
    }
    assert got["kernel"] == "onnxruntime MatMulInteger u8s8" and got["ops_per_s"] > 0


def test_cached_ceilings_of_the_previous_rule_are_not_reused(tmp_path, monkeypatch):
    path = tmp_path / "ceilings.json"
    cpu = {"model": "test cpu", "usable_cpus": 64}
    monkeypatch.setattr(ceilings, "measure_ceilings", lambda threads: {"precisions": {"x": 1}})
    first = ceilings.machine_ceilings(cpu, 1, path=path)
    assert first["source"] == "measured now"
    monkeypatch.setattr(ceilings, "CACHE_VERSION", ceilings.CACHE_VERSION + 1)
    monkeypatch.setattr(ceilings, "measure_ceilings", lambda threads: {"precisions": {"y": 2}})
    again = ceilings.machine_ceilings(cpu, 1, path=path)
    assert again["precisions"] == {"y": 2}


@pytest.mark.parametrize("precision", ceilings.CEILING_PRECISIONS)
def test_share_is_none_without_a_ceiling(precision):
    assert (
        ceilings.ceiling_share({"precisions": {precision: {"ops_per_s": None}}}, precision, 1e9)
        is None
    )
    assert (
        ceilings.ceiling_share({"precisions": {precision: {"ops_per_s": 2e9}}}, precision, 1e9)
        == 0.5
    )


def test_each_precision_takes_its_best_gemm_size_and_keeps_every_size(monkeypatch):
    """The sizes disagree per precision (AMX BF16 doubles from 1024 to 2048, FP32 does not): each
    precision's ceiling is its own best size; a size that failed (None) is listed, never chosen."""
    rates = {
        1024: {"fp32": 4.2e11, "bf16": 1.3e12, "int8": 3.6e12},
        2048: {"fp32": 3.9e11, "bf16": 2.4e12, "int8": None},
    }

    def at(threads, size, round_s):
        return {p: {"ops_per_s": r, "kernel": f"k{size}"} for p, r in rates[size].items()}

    monkeypatch.setattr(ceilings, "_measure_at", at)
    got = ceilings.measure_ceilings(2, sizes=(1024, 2048))
    assert got["gemm"] == "best of 1024x1024x1024, 2048x2048x2048"
    best = {p: (e["size"], e["ops_per_s"], e["kernel"]) for p, e in got["precisions"].items()}
    assert best == {
        "fp32": (1024, 4.2e11, "k1024"),
        "bf16": (2048, 2.4e12, "k2048"),
        "int8": (1024, 3.6e12, "k1024"),
    }
    assert got["precisions"]["int8"]["by_size"] == {"1024": 3.6e12, "2048": None}
