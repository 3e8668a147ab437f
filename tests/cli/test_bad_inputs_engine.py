"""Bad input for `vggdeploy build-engine`'s precision gate (contract: tests/badinput.py).

TensorRT is the recording double (tests/trt_double.py, 10.x flavour) with a fake GPU; for the
fallback case its engine inspector replays a real FP32 engine's JSON (TensorRT 10.16.1,
tests/backends/tensorrt/fixtures/), which is what an fp16 build whose layers fell back shows."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from badinput import Case, run_case
from onnx_variants import export_fp32, make_fp16_variant
from trt_double import INSPECTOR_FIXTURES, make_tensorrt

from vggdeploy.backends.tensorrt import env
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo


@pytest.fixture(scope="module")
def _fp16_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("engine-bad") / "run"
    shutil.copytree(_trained_run, run)
    make_fp16_variant(export_fp32(run))
    return run


@pytest.fixture
def ctx(tmp_path, fake_data, _fp16_run, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(_fp16_run, run)
    trt = make_tensorrt("10")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(env, "cuda_device_info", lambda index=0: DeviceInfo("Fake GPU", (8, 0)))
    return {"tmp": tmp_path, "fake_data": fake_data, "tiny_run": run, "trt": trt}


def _engine(ctx: dict) -> Path:
    return Path(ctx["tmp"]) / "engines" / "m.fp16.engine"


def _conv_falls_back(ctx: dict) -> None:
    """The engine's layers run in FP32; an earlier engine sits at the output path."""
    ctx["trt"].recorder.inspector = INSPECTOR_FIXTURES["fp32"].read_text()
    _engine(ctx).parent.mkdir(parents=True)
    _engine(ctx).write_bytes(b"an earlier engine")
    Path(f"{_engine(ctx)}.json").write_text("{}")


CASES = [
    Case(
        "engine-fp16-layer-fell-back",
        "build-engine --fp16 where TensorRT ran a Conv in FP32 (no --allow-fallback)",
        lambda c: [
            "build-engine",
            str(c["tiny_run"] / "model.onnx"),
            "--fp16",
            "--max-batch",
            "16",
            "-o",
            str(_engine(c)),
        ],  # fmt: skip
        7,
        r"does not compute in fp16.*node_conv2d_1 \+ node_relu_1 \(fp32\).*--allow-fallback",
        protect=lambda c: [_engine(c), Path(f"{_engine(c)}.json")],
        setup=_conv_falls_back,
    ),
    Case(
        "engine-allow-fallback-inductor",
        "build-engine --backend inductor --allow-fallback (a TensorRT-only option)",
        lambda c: [
            "build-engine",
            str(c["tiny_run"]),
            "--backend",
            "inductor",
            "--allow-fallback",
        ],  # fmt: skip
        2,
        r"--allow-fallback only appl(y|ies) to --backend tensorrt",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)
