"""May this TensorRT plan be loaded here? NVIDIA's engine-compatibility rules, as one function.

The policy is the one NVIDIA documents in "Engine Compatibility"
(https://docs.nvidia.com/deeplearning/tensorrt/11.1.0/inference-library/engine-compatibility.html)
and in the ``HardwareCompatibilityLevel`` comments of ``NvInfer.h``:

* A plan built **without** ``kVERSION_COMPATIBLE`` loads only in the TensorRT version that built it
  (major.minor.patch and, where both sides know it, the build number: TensorRT's own refusal reads
  "expecting library version A.B.C.D got A.B.C.E").
* A **version-compatible** plan loads in the same or any *later* TensorRT, including the next major
  version ("engines built with TensorRT 10 work with TensorRT 11"), never in an earlier one;
  version compatibility exists from TensorRT 8.6 on.
* Hardware: level ``none`` (kNONE) ties the plan to the build GPU's compute capability (another GPU
  model of the same compute capability loads, and TensorRT warns that this is not recommended:
  we warn too); ``ampere+`` (kAMPERE_PLUS) loads on any GPU of compute capability >= 8.0 and is
  only supported for plans built on one; ``same-cc`` (kSAME_COMPUTE_CAPABILITY) loads on any GPU of
  the build GPU's compute capability and is only supported for plans built on Turing (7.5) or later.

The same rules are written once more in C++ (``engine_compat`` in cpp/common.cpp) for vgg_trt. Both
run the one case table ``compat_cases.json`` in CI (tests/backends/tensorrt/test_compat.py and
vgg_common_selftest), so they cannot drift apart. This module imports neither tensorrt nor torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CASES_FILE = Path(__file__).with_name("compat_cases.json")

AMPERE = (8, 0)
TURING = (7, 5)
FIRST_VERSION_COMPATIBLE = (8, 6)

# reason -> one sentence for messages; the codes are shared with cpp/common.cpp and the case table
REASONS = {
    "ok": "loadable",
    "other-gpu-model": "built on another GPU model of the same compute capability",
    "version-mismatch": "a plan that is not version-compatible loads only in the exact TensorRT "
    "version that built it",
    "runtime-older-than-builder": "a version-compatible plan loads only in the TensorRT version "
    "that built it or a later one",
    "version-compatible-needs-8.6": "version-compatible plans exist from TensorRT 8.6 on",
    "compute-capability-mismatch": "the plan is tied to the compute capability of the GPU it was "
    "built on",
    "gpu-older-than-ampere": "a plan built hardware-compatible for Ampere and later GPUs needs "
    "compute capability >= 8.0",
    "ampere-plus-built-before-ampere": "hardware compatibility 'ampere+' is only supported for "
    "plans built on Ampere or later GPUs",
    "same-cc-built-before-turing": "hardware compatibility 'same-cc' is only supported for plans "
    "built on Turing or later GPUs",
}


def version_tuple(version: str) -> tuple[int, ...]:
    """'10.16.1.11' -> (10, 16, 1, 11); ignores suffixes such as 'rc1' or '+cuda12'."""
    parts = []
    for piece in str(version).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def _common(a: str, b: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Both versions cut to the components both know (at least major.minor.patch, 0-padded)."""
    ta, tb = version_tuple(a), version_tuple(b)
    n = max(3, min(len(ta), len(tb)))
    return (ta + (0,) * n)[:n], (tb + (0,) * n)[:n]


@dataclass(frozen=True)
class Verdict:
    """``decision`` is accept / warn (loads, but say so) / refuse; ``reason`` a code of REASONS."""

    decision: str
    reason: str

    @property
    def explanation(self) -> str:
        return REASONS[self.reason]


def judge_version(built_version: str, version_compatible: bool, runtime_version: str) -> Verdict:
    """May a plan built by TensorRT ``built_version`` load in TensorRT ``runtime_version``?"""
    built, here = _common(built_version, runtime_version)
    if version_compatible:
        if version_tuple(built_version)[:2] < FIRST_VERSION_COMPATIBLE:
            return Verdict("refuse", "version-compatible-needs-8.6")
        if here < built:
            return Verdict("refuse", "runtime-older-than-builder")
    elif here != built:
        return Verdict("refuse", "version-mismatch")
    return Verdict("accept", "ok")


def judge_hardware(
    hardware_compat: str,
    built_gpu: str,
    built_cc: tuple[int, int],
    runtime_gpu: str,
    runtime_cc: tuple[int, int],
) -> Verdict:
    """May a plan built on ``built_gpu`` at ``hardware_compat`` level load on ``runtime_gpu``?"""
    built_cc, runtime_cc = tuple(built_cc), tuple(runtime_cc)
    if hardware_compat == "ampere+":
        if built_cc < AMPERE:
            return Verdict("refuse", "ampere-plus-built-before-ampere")
        if runtime_cc < AMPERE:
            return Verdict("refuse", "gpu-older-than-ampere")
        return Verdict("accept", "ok")
    if hardware_compat == "same-cc" and built_cc < TURING:
        return Verdict("refuse", "same-cc-built-before-turing")
    if runtime_cc != built_cc:
        return Verdict("refuse", "compute-capability-mismatch")
    if hardware_compat == "none" and runtime_gpu != built_gpu:
        return Verdict("warn", "other-gpu-model")
    return Verdict("accept", "ok")


def judge(
    *,
    built_version: str,
    version_compatible: bool,
    hardware_compat: str,
    built_gpu: str,
    built_cc: tuple[int, int],
    runtime_version: str,
    runtime_gpu: str,
    runtime_cc: tuple[int, int],
) -> Verdict:
    """The verdict for loading a plan built as described on this TensorRT and GPU: the version is
    judged first, then the hardware; the first rule that fails is the reason."""
    verdict = judge_version(built_version, version_compatible, runtime_version)
    if verdict.decision == "refuse":
        return verdict
    return judge_hardware(hardware_compat, built_gpu, built_cc, runtime_gpu, runtime_cc)
