"""The bad-input sweep over every command (see tests/badinput.py for the contract)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case, train_argv

from vggdeploy.data.idx import write_idx


def _data_copy(ctx: dict) -> Path:
    import shutil

    dst = Path(ctx["tmp"]) / "data"
    if not dst.exists():
        shutil.copytree(ctx["fake_data"], dst)
    return dst


def _truncate_gz(ctx: dict) -> None:
    p = _data_copy(ctx) / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-100])


def _labels_short(ctx: dict) -> None:
    write_idx(_data_copy(ctx) / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8), compress=True)


def _bad_magic(ctx: dict) -> None:
    (_data_copy(ctx) / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x07\x07" * 40))


def _run_files(ctx: dict) -> list[Path]:
    return [ctx["tiny_run"] / "model.json", ctx["tiny_run"] / "model.safetensors"]


def _corrupt_state(ctx: dict) -> None:
    (ctx["tiny_run"] / "train_state.json").write_text('{"format": "vggdeploy.train_state"')


def _resume_in_run(ctx: dict, *extra: str) -> list[str]:
    return [
        "train",
        "--resume",
        "--out",
        str(ctx["tiny_run"]),
        "--data-dir",
        str(ctx["fake_data"]),
        *extra,
    ]


def _onnx(ctx: dict) -> Path:
    from onnx_artifacts import export_fp32

    path = ctx["tiny_run"] / "model.onnx"
    if not path.exists():
        export_fp32(ctx["tiny_run"], path)
    return path


def _file(ctx: dict, name: str, data: bytes) -> str:
    path = Path(ctx["tmp"]) / name
    path.write_bytes(data)
    return str(path)


def _npy(ctx: dict, name: str, arr) -> str:
    path = Path(ctx["tmp"]) / name
    np.save(path, arr)
    return str(path)


def _fake_engine(ctx: dict) -> str:
    """A plan replaced after its sidecar was written (the sidecar records another sha256)."""
    from engine_fakes import stand_in_engine

    from vggdeploy.artifacts.checkpoint import read_spec

    engine = Path(ctx["tmp"]) / "m.engine"
    stand_in_engine(engine, read_spec(ctx["tiny_run"]), max_batch=64)
    built = engine.read_bytes()
    engine.write_bytes(bytes(reversed(built)))  # same size, other bytes: a replaced plan
    return str(engine)


def _other_model_repo(ctx: dict) -> None:
    """A Triton repository that already serves a different model under the same name."""
    from vggdeploy.serve.triton import build_triton_repo

    build_triton_repo(ctx["tiny_run"], Path(ctx["tmp"]) / "repo", onnx=_onnx(ctx), name="m")
    other = Path(ctx["tmp"]) / "other"
    shutil.copytree(ctx["tiny_run"], other)
    meta = json.loads((other / "model.json").read_text())
    meta["class_names"] = [f"c{i}" for i in range(10)]
    (other / "model.json").write_text(json.dumps(meta))
    (other / "model.onnx").unlink()


CASES = [
    Case("unknown-command", "unknown command", lambda c: ["trian"], 2, "No such command"),
    Case(
        "unknown-option",
        "unknown option",
        lambda c: ["train", "--lr-max", "1"],
        2,
        "No such option",
    ),
    Case(
        "unknown-preset",
        "unknown preset",
        lambda c: train_argv(c, "--preset", "vgg42"),
        2,
        "unknown preset 'vgg42'.*valid presets: vgg-mini",
    ),
    Case(
        "summary-unknown-preset",
        "summary of an unknown preset",
        lambda c: ["summary", "--preset", "alexnet"],
        2,
        "unknown preset 'alexnet'",
    ),
    Case(
        "negative-lr",
        "negative learning rate",
        lambda c: train_argv(c, "--lr", "-0.1"),
        2,
        "--lr must be a positive number",
    ),
    Case(
        "zero-batch",
        "zero batch size",
        lambda c: train_argv(c, "--batch-size", "0"),
        2,
        "--batch-size must be >= 1",
    ),
    Case(
        "zero-epochs",
        "zero epochs",
        lambda c: train_argv(c, "--epochs", "0"),
        2,
        "--epochs must be >= 1",
    ),
    Case(
        "bad-momentum",
        "momentum >= 1",
        lambda c: train_argv(c, "--momentum", "1"),
        2,
        "--momentum must be in",
    ),
    Case(
        "not-a-number",
        "non-numeric learning rate",
        lambda c: train_argv(c, "--lr", "fast"),
        2,
        "'fast' is not a valid float",
    ),
    Case(
        "data-missing",
        "dataset folder without the files",
        lambda c: train_argv(c, data="tmp"),
        3,
        "not found. Looked in.*dataset-fashion-mnist.*--download",
    ),
    Case(
        "idx-truncated-gzip",
        "truncated .gz IDX file",
        lambda c: train_argv(c, data="copy"),
        3,
        "corrupt or truncated gzip",
        setup=_truncate_gz,
    ),
    Case(
        "idx-bad-magic",
        "IDX file with a wrong magic number",
        lambda c: train_argv(c, data="copy"),
        3,
        "magic number",
        setup=_bad_magic,
    ),
    Case(
        "idx-count-mismatch",
        "5 labels for 256 test images",
        lambda c: train_argv(c, data="copy"),
        3,
        "256 images but its labels file has 5",
        setup=_labels_short,
    ),
    Case(
        "output-unwritable",
        "output folder below a regular file",
        lambda c: train_argv(c, "--out", str(c["tmp"] / "f" / "x")),
        8,
        "cannot create output folder",
        setup=lambda c: (c["tmp"] / "f").write_text("file"),
    ),
    Case(
        "resume-nothing",
        "--resume in an empty folder",
        lambda c: [
            "train",
            "--resume",
            "--out",
            str(c["tmp"] / "empty"),
            "--data-dir",
            str(c["fake_data"]),
        ],
        4,
        "cannot resume.*not found",
    ),
    Case(
        "resume-corrupt-state",
        "--resume with a truncated train_state.json",
        lambda c: _resume_in_run(c),
        4,
        "cannot resume.*unreadable",
        protect=_run_files,
        setup=_corrupt_state,
    ),
    Case(
        "cuda-missing",
        "--device cuda on a machine without CUDA",
        lambda c: train_argv(c, "--device", "cuda"),
        6,
        "no CUDA GPU",
    ),
    # export
    Case(
        "export-no-checkpoint",
        "export of a folder without a checkpoint",
        lambda c: ["export", str(c["tmp"])],
        4,
        "checkpoint file missing",
    ),
    Case(
        "export-corrupt-spec",
        "export with a corrupt model.json",
        lambda c: ["export", str(c["tiny_run"])],
        4,
        "not valid JSON",
        setup=lambda c: (c["tiny_run"] / "model.json").write_text('{"format": "vggd'),
        protect=lambda c: [c["tiny_run"] / "model.safetensors"],
    ),
    Case(
        "export-max-batch-0",
        "export with --max-batch 0",
        lambda c: ["export", str(c["tiny_run"]), "--max-batch", "0"],
        2,
        "max-batch",
    ),
    Case(
        "export-bad-opset",
        "export with an opset the exporter cannot produce",
        lambda c: ["export", str(c["tiny_run"]), "--opset", "3"],
        2,
        "opset",
    ),
    Case(
        "export-unwritable",
        "export to a path below a regular file",
        lambda c: ["export", str(c["tiny_run"]), "-o", str(c["tmp"] / "f" / "m.onnx")],
        8,
        "cannot",
        setup=lambda c: (c["tmp"] / "f").write_text("file"),
        protect=_run_files,
    ),
    Case(
        "calibration-data-missing",
        "INT8 export without the training images",
        lambda c: [
            "export",
            str(c["tiny_run"]),
            "--precision",
            "int8",
            "--data-dir",
            str(c["tmp"] / "nodata"),
        ],
        3,
        "not found",
        protect=_run_files,
    ),
    # inspect
    Case(
        "inspect-missing",
        "inspect of a missing file",
        lambda c: ["inspect", str(c["tmp"] / "nope.onnx")],
        4,
        "not found",
    ),
    Case(
        "inspect-not-onnx",
        "inspect of a text file named .onnx",
        lambda c: ["inspect", _file(c, "x.onnx", b"hello, not protobuf")],
        4,
        "not .*ONNX",
    ),
    Case(
        "inspect-unknown-type",
        "inspect of a .txt file",
        lambda c: ["inspect", _file(c, "notes.txt", b"hi")],
        4,
        "not a vggdeploy artifact",
    ),
    Case(
        "triton-replaced-engine",
        "triton-repo with an engine whose plan no longer matches its sidecar",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "--engine",
            _fake_engine(c),
            "-o",
            str(c["tmp"] / "repo"),
        ],
        4,
        "does not match its sidecar",
    ),
    Case(
        "build-no-tensorrt",
        "build-engine --fp16 where TensorRT is not installed",
        lambda c: ["build-engine", str(_onnx(c)), "--fp16"],
        5,
        "TensorRT not available.*pip",
    ),
    Case(
        "build-bad-batch",
        "inductor build with --max-batch 0",
        lambda c: ["build-engine", str(c["tiny_run"]), "--backend", "inductor", "--max-batch", "0"],
        2,
        "batch",
    ),
    Case(
        "build-inductor-no-checkpoint",
        "inductor build of a folder without a checkpoint",
        lambda c: [
            "build-engine",
            str(c["tmp"]),
            "--backend",
            "inductor",
            "-o",
            str(c["tmp"] / "m.pt2"),
        ],
        4,
        "checkpoint file missing",
    ),
    # bench
    Case(
        "bench-unknown-backend",
        "bench with an unknown backend",
        lambda c: ["bench", str(c["tiny_run"]), "--backends", "tflite"],
        2,
        "tflite",
    ),
    Case(
        "bench-unknown-precision",
        "bench with an unknown precision",
        lambda c: ["bench", str(c["tiny_run"]), "--precisions", "fp8"],
        2,
        "fp8",
    ),
    Case(
        "bench-no-run",
        "bench of a missing run folder",
        lambda c: ["bench", str(c["tmp"] / "nope")],
        4,
        "nope",
    ),
    # predict
    Case(
        "predict-unknown-artifact",
        "predict with a .tflite model",
        lambda c: [
            "predict",
            _file(c, "m.tflite", b"x"),
            _npy(c, "a.npy", np.zeros((1, 28, 28), np.uint8)),
        ],
        2,
        "tflite|supported",
    ),
    Case(
        "predict-not-an-image",
        "predict on a text file named .png",
        lambda c: ["predict", str(c["tiny_run"]), _file(c, "x.png", b"not a png")],
        2,
        "x.png",
    ),
    Case(
        "predict-nan",
        "predict on float input holding NaN",
        lambda c: [
            "predict",
            str(c["tiny_run"]),
            _npy(c, "nan.npy", np.full((1, 1, 32, 32), np.nan, np.float32)),
        ],
        2,
        "NaN",
    ),
    Case(
        "predict-empty",
        "predict on an empty batch",
        lambda c: [
            "predict",
            str(c["tiny_run"]),
            _npy(c, "empty.npy", np.zeros((0, 28, 28), np.uint8)),
        ],
        2,
        "empty",
    ),
    Case(
        "predict-wrong-channels",
        "predict on 5-channel images",
        lambda c: [
            "predict",
            str(c["tiny_run"]),
            _npy(c, "c5.npy", np.zeros((1, 28, 28, 5), np.uint8)),
        ],
        2,
        "channel|shape",
    ),
    # triton-repo
    Case(
        "triton-other-model",
        "triton-repo into a repository serving another model",
        lambda c: [
            "triton-repo",
            str(c["tmp"] / "other"),
            "--onnx",
            str(_onnx(c)),
            "--name",
            "m",
            "-o",
            str(c["tmp"] / "repo"),
        ],
        4,
        "different|--force",
        setup=_other_model_repo,
        protect=lambda c: [c["tmp"] / "repo" / "m" / "config.pbtxt"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    import torch

    if case.id == "cuda-missing" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    run_case(case, ctx, capsys)


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)
    json.dumps([c.id for c in CASES])
