"""Bad input for `vggdeploy debug-precision` (see tests/badinput.py for the contract)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
from badinput import Case, run_case
from precision_runs import exported_run


@pytest.fixture(scope="module")
def _int8_run(_trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny run with model.onnx and both INT8 variants (no FP16), exported once."""
    dst = tmp_path_factory.mktemp("dbg-bad") / "run"
    return exported_run(_trained_run, dst, fake_data, precisions="int8", verify=False)


@pytest.fixture
def ctx(tmp_path, fake_data, _int8_run):
    run = tmp_path / "run"
    shutil.copytree(_int8_run, run)
    return {"tmp": tmp_path, "fake_data": fake_data, "tiny_run": run}


def _dbg(ctx: dict, *extra: str, run: str | None = None) -> list[str]:
    return [
        "debug-precision",
        run or str(ctx["tiny_run"]),
        "--data-dir",
        str(ctx["fake_data"]),
        "--images",
        "16",
        *extra,
    ]


def _variants(ctx: dict) -> list[Path]:
    run = ctx["tiny_run"]
    return [run / "model.onnx", run / "model.int8.onnx", run / "model.int8-cpu.onnx"]


def _set_meta(ctx: dict, key: str, value: str) -> None:
    path = ctx["tiny_run"] / "model.int8.onnx"
    model = onnx.load(str(path))
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
    onnx.save(model, str(path))


def _file_as_out(ctx: dict) -> None:
    (Path(ctx["tmp"]) / "a-file").write_text("x")


CASES = [
    Case(
        "dbg-no-variant",
        "a run without the requested variant",
        lambda ctx: _dbg(ctx, "--precision", "fp16"),
        4,
        r"has no fp16 variant \(model\.fp16\.onnx\).*vggdeploy export .* --precision fp16",
        protect=_variants,
    ),
    Case(
        "dbg-no-fp32",
        "a folder without model.onnx",
        lambda ctx: _dbg(ctx, run=str(ctx["tmp"])),
        4,
        r"no FP32 model .*model\.onnx.*vggdeploy export",
    ),
    Case(
        "dbg-images-too-many",
        "--images larger than the test set",
        lambda ctx: _dbg(ctx) + ["--images", "100000"],
        2,
        r"--images 100000 is more than the test split has \(256 images.*--images 256 or fewer",
        protect=_variants,
    ),
    Case(
        "dbg-images-zero",
        "--images 0",
        lambda ctx: _dbg(ctx) + ["--images", "0"],
        2,
        r"--images must be >= 1",
    ),
    Case(
        "dbg-other-model",
        "a variant exported from another checkpoint",
        lambda ctx: _dbg(ctx),
        4,
        r"model\.int8\.onnx' is a variant of another model.*export the variants again",
        protect=_variants,
        setup=lambda ctx: _set_meta(ctx, "vggdeploy.checkpoint_sha256", "f" * 64),
    ),
    Case(
        "dbg-wrong-variant",
        "model.int8.onnx whose metadata says it is another variant",
        lambda ctx: _dbg(ctx),
        4,
        r"is not the int8 variant \(its metadata says fp16\)",
        setup=lambda ctx: _set_meta(ctx, "vggdeploy.precision", "fp16"),
    ),
    Case(
        "dbg-unknown-layer",
        "--layers naming no layer of the model",
        lambda ctx: _dbg(ctx, "--sensitivity", "--layers", "conv_nope"),
        2,
        r"--layers: unknown layer 'conv_nope'.*valid layers: node_Conv",
        protect=_variants,
    ),
    Case(
        "dbg-layers-without-sensitivity",
        "--layers without --sensitivity",
        lambda ctx: _dbg(ctx, "--layers", "x"),
        2,
        r"--layers chooses the layers --sensitivity tries.*add --sensitivity",
    ),
    Case(
        "dbg-sensitivity-no-report",
        "--sensitivity on an INT8 variant whose export report is gone",
        lambda ctx: _dbg(ctx, "--sensitivity"),
        4,
        r"model\.int8\.report\.json does not say how 'model\.int8\.onnx' was calibrated",
        protect=_variants,
        setup=lambda ctx: (ctx["tiny_run"] / "model.int8.report.json").unlink(),
    ),
    Case(
        "export-keep-fp32-unknown",
        "export --keep-fp32 naming no quantized layer",
        lambda ctx: [
            "export",
            str(ctx["tiny_run"]),
            "--precision",
            "int8",
            "--target",
            "tensorrt",
            "--keep-fp32",
            "node_relu",
            "--data-dir",
            str(ctx["fake_data"]),
            "--max-batch",
            "16",
            "--no-simplify",
            "--no-verify",
            "--calib-size",
            "64",
        ],
        2,
        r"--keep-fp32: unknown layer .node_relu.*quantizes only Conv/Gemm.*valid layers: node_",
        protect=_variants,
    ),
    Case(
        "export-keep-fp32-no-variant",
        "export --keep-fp32 without an fp16/int8 variant",
        lambda ctx: ["export", str(ctx["tiny_run"]), "--keep-fp32", "x"],
        2,
        r"--keep-fp32 applies to the fp16 and int8 variants",
        protect=_variants,
    ),
    Case(
        "dbg-bad-target",
        "an unknown --target",
        lambda ctx: _dbg(ctx, "--target", "gpu"),
        2,
        r"Invalid value for '--target'",
    ),
    Case(
        "dbg-out-is-file",
        "-o naming a file, not a folder",
        lambda ctx: _dbg(ctx, "-o", str(Path(ctx["tmp"]) / "a-file")),
        8,
        r"cannot write the report folder .*a-file.* is not a folder",
        protect=_variants,
        setup=_file_as_out,
    ),
    Case(
        "dbg-no-test-data",
        "a data folder without the test split",
        lambda ctx: _dbg(ctx) + ["--data-dir", str(Path(ctx["tmp"]) / "empty")],
        3,
        r"Fashion-MNIST|not found|missing",
        setup=lambda ctx: (Path(ctx["tmp"]) / "empty").mkdir(),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)
    assert not (ctx["tiny_run"] / "debug").exists(), "a failed run wrote reports"


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)
    json.dumps([c.id for c in CASES])
