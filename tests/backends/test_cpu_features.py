"""CPU features from the kernel's flags: real CPUs' flag lines, and every subset of the flags the
module decides by (generated from its own tables)."""

from __future__ import annotations

import itertools

import pytest

from vggdeploy.backends.cpu_features import (
    BF16_FLAGS,
    INT8_FLAGS,
    cpu_features,
    cpu_flags,
)

# flag lines as /proc/cpuinfo prints them (abridged to the SIMD part)
CPUS = {
    "AMD Zen 3 (EPYC 7003)": ("fpu sse4_2 avx avx2 fma f16c", False, False, False),
    "AMD Zen 4 (EPYC 9004)": (
        "fpu avx avx2 fma avx512f avx512_bf16 avx512_vnni avx512_fp16x",
        True,
        False,
        True,
    ),
    "Intel Sapphire Rapids": (
        "avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8",
        True,
        True,
        True,
    ),
    "Intel Alder Lake (AVX-VNNI)": ("avx2 fma avx_vnni", False, False, True),
}


@pytest.mark.parametrize("name", sorted(CPUS))
def test_known_cpus(name: str) -> None:
    line, bf16, amx, vnni_or_amx_int8 = CPUS[name]
    text = f"processor\t: 0\nvendor_id\t: x\nflags\t\t: {line}\n\nprocessor\t: 1\nflags\t\t: \n"
    features = cpu_features(cpu_flags(text))
    assert features.native_bf16 is bf16
    assert features.amx is amx
    assert features.native_int8_dot is vnni_or_amx_int8
    assert (features.bf16_refusal() is None) is bf16
    assert features.as_dict()["native_bf16"] is bf16


def test_no_flags_line_means_no_features() -> None:
    assert cpu_flags("processor : 0\nmodel name : x\n") == frozenset()
    assert cpu_features([]).bf16_refusal() is not None


_DECIDING = sorted({*BF16_FLAGS, *INT8_FLAGS, "amx_tile"})


@pytest.mark.parametrize(
    "flags",
    [set(c) for r in range(len(_DECIDING) + 1) for c in itertools.combinations(_DECIDING, r)],
    ids=lambda f: "+".join(sorted(f)) or "none",
)
def test_every_combination_of_the_deciding_flags(flags: set[str]) -> None:
    f = cpu_features({"avx2", "fma", *flags})
    assert f.native_bf16 == bool(flags & set(BF16_FLAGS))
    assert f.native_int8_dot == bool(flags & set(INT8_FLAGS))
    assert f.amx == ("amx_tile" in flags and bool(flags & {"amx_bf16", "amx_int8"}))
    refusal = f.bf16_refusal()
    assert (refusal is None) == f.native_bf16
    if refusal:
        assert "emulated" in refusal


def test_this_machine_reads_its_own_flags() -> None:
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags line here (not Linux x86)")
    assert cpu_features().flags == flags


@pytest.mark.parametrize("name", sorted(CPUS))
def test_training_bf16_default_follows_the_cpu(name: str, monkeypatch, tmp_path) -> None:
    """--cpu-bf16 unset: resolved from the CPU's flags at validation (and recorded resolved);
    on only with AMX-BF16; an explicit value always wins; never on for CUDA."""
    from vggdeploy.backends import cpu_features as cpu_mod
    from vggdeploy.train.config import TrainConfig, cpu_bf16_pays

    line, _, amx, _ = CPUS[name]
    fake = tmp_path / "cpuinfo"
    fake.write_text(f"processor : 0\nflags : {line}\n")
    monkeypatch.setattr(cpu_mod, "CPUINFO", fake)
    assert cpu_bf16_pays() is amx
    assert TrainConfig().validate().cpu_bf16 is amx
    assert TrainConfig(cpu_bf16=False).validate().cpu_bf16 is False
    assert TrainConfig(cpu_bf16=True).validate().cpu_bf16 is True
    assert TrainConfig(device="cuda").validate().cpu_bf16 is False
