"""The bad-input sweep for stale artifacts (see tests/badinput.py and
vggdeploy/artifacts/provenance.py).

A derived artifact whose recorded source hash differs from the checkpoint (or model.onnx) beside
it is refused with exit 4, a message naming the file and both hashes, and the command that makes
it again; nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case
from onnx_artifacts import engine_from, export_fp32, make_variant, reexport, retrain

from conftest import make_images


def _onnx(ctx: dict) -> Path:
    path = ctx["tiny_run"] / "model.onnx"
    if not path.exists():
        export_fp32(ctx["tiny_run"], path)
    return path


def _retrained(ctx: dict) -> None:
    """model.onnx exported, then the run trained again into the same folder."""
    _onnx(ctx)
    retrain(ctx["tiny_run"])


def _reexported_variant(ctx: dict) -> None:
    """model.fp16.onnx derived from model.onnx, then model.onnx exported again."""
    _onnx(ctx)
    make_variant(ctx["tiny_run"], "fp16")
    reexport(_onnx(ctx))


def _engine(ctx: dict) -> Path:
    return ctx["tiny_run"] / "engines" / "tiny.fp32.engine"


def _stale_engine(ctx: dict) -> None:
    """An engine built from model.onnx, then model.onnx exported again."""
    engine_from(_onnx(ctx), _engine(ctx))
    reexport(_onnx(ctx))


def _images(ctx: dict) -> str:
    path = Path(ctx["tmp"]) / "a.npy"
    np.save(path, make_images(1, seed=5)[0])
    return str(path)


def _repo(ctx: dict) -> list[Path]:
    return [Path(ctx["tmp"]) / "repo" / "tiny" / "1" / "model.onnx"]


CASES = [
    Case(
        "predict-stale-onnx",
        "predict with a model.onnx exported before the run was trained again",
        lambda c: ["predict", str(c["tiny_run"] / "model.onnx"), _images(c)],
        4,
        r"stale artifact: .*model\.onnx.* was made from checkpoint sha256 [0-9a-f]{12}, but "
        r".*model\.safetensors.* is now [0-9a-f]{12}.*re-export: vggdeploy export",
        protect=lambda c: [c["tiny_run"] / "model.onnx"],
        setup=_retrained,
    ),
    Case(
        "predict-stale-variant",
        "predict with model.fp16.onnx after model.onnx was exported again",
        lambda c: ["predict", str(c["tiny_run"] / "model.fp16.onnx"), _images(c)],
        4,
        r"stale artifact: .*model\.fp16\.onnx.*model\.onnx.*--precision fp16",
        setup=_reexported_variant,
    ),
    Case(
        "predict-stale-engine",
        "predict with an engine whose source model.onnx was exported again (no TensorRT needed)",
        lambda c: ["predict", str(_engine(c)), _images(c)],
        4,
        r"stale artifact: .*tiny\.fp32\.engine.*model\.onnx.*rebuild the engine: vggdeploy "
        r"build-engine",
        setup=_stale_engine,
    ),
    Case(
        "triton-stale-onnx",
        "triton-repo of a run whose model.onnx predates its checkpoint",
        lambda c: ["triton-repo", str(c["tiny_run"]), "-o", str(c["tmp"] / "repo")],
        4,
        r"stale artifact: .*model\.onnx.*re-export: vggdeploy export",
        protect=_repo,
        setup=_retrained,
    ),
    Case(
        "triton-stale-engine",
        "triton-repo --engine with an engine built from an older model.onnx",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "--engine",
            str(_engine(c)),
            "-o",
            str(c["tmp"] / "repo"),
        ],
        4,
        r"stale artifact: .*tiny\.fp32\.engine.*rebuild the engine",
        setup=_stale_engine,
    ),
    Case(
        "triton-stale-onnx-file",
        "triton-repo of a model.onnx file whose run was trained again",
        lambda c: ["triton-repo", str(c["tiny_run"] / "model.onnx"), "-o", str(c["tmp"] / "r")],
        4,
        r"stale artifact: .*model\.onnx.*model\.safetensors",
        setup=_retrained,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)
