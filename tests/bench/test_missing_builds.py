"""A precision asked of a backend that builds it, with no such artifact in the run folder, is a
skipped row with the reason (it was left out without a word: `bench --backends openvino
--precisions bf16` on a CPU without native BF16 printed no bf16 row at all). Generated from the
registry's ``builds`` and both kinds of CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from vggdeploy.backends import cpu_features as cpu_mod
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.bench.matrix import Case, _missing_builds

BUILDERS = [b for b in BACKENDS.values() if b.builds]
CPUS = {"native_bf16": {"avx2", "avx512f", "avx512_bf16"}, "no_bf16": {"avx2", "fma"}}


def test_every_backend_with_a_build_step_declares_what_it_builds():
    assert {b.name for b in BUILDERS} >= {"tensorrt", "inductor", "openvino"}


@pytest.mark.parametrize("info", BUILDERS, ids=lambda b: b.name)
@pytest.mark.parametrize("cpu", sorted(CPUS))
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_each_missing_precision_is_a_skipped_row(info, cpu, device, monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"  # the CPU as /proc/cpuinfo describes it
    fake.write_text(f"processor : 0\nflags : {' '.join(sorted(CPUS[cpu]))}\n")
    monkeypatch.setattr(cpu_mod, "CPUINFO", fake)
    asked = ["fp32", "fp16", "bf16", "int8"]
    for present in info.builds:
        kept = [Case(info.name, present, "x", Path("x"))]
        rows = _missing_builds(info, kept, asked, device)
        want = [p for p in info.builds if p != present]
        assert [r.precision for r in rows] == want
        for r in rows:
            assert r.skip and r.backend == info.name and r.artifact is None
            if r.precision == "bf16" and device == "cpu" and cpu == "no_bf16":
                assert r.skip.startswith("not native here") and "BF16" in r.skip
                assert info.how_to_make not in r.skip  # building one would be refused
            else:
                assert "artifact missing" in r.skip and info.how_to_make in r.skip
        assert _missing_builds(info, kept, [present], device) == []  # only what was asked
