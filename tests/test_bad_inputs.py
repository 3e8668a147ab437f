"""The bad-input sweep over every command (see tests/badinput.py for the contract)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case

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


def _train(ctx: dict, *extra: str, data: str = "fake_data") -> list[str]:
    source = str(ctx["tmp"] / "data") if data == "copy" else str(ctx[data])
    return [
        "train",
        "--out",
        str(ctx["tmp"] / "out"),
        "--data-dir",
        source,
        "--epochs",
        "1",
        "--limit-train",
        "64",
        "--limit-test",
        "64",
        *extra,
    ]


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
        lambda c: _train(c, "--preset", "vgg42"),
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
        lambda c: _train(c, "--lr", "-0.1"),
        2,
        "--lr must be a positive number",
    ),
    Case(
        "zero-batch",
        "zero batch size",
        lambda c: _train(c, "--batch-size", "0"),
        2,
        "--batch-size must be >= 1",
    ),
    Case(
        "zero-epochs",
        "zero epochs",
        lambda c: _train(c, "--epochs", "0"),
        2,
        "--epochs must be >= 1",
    ),
    Case(
        "bad-momentum",
        "momentum >= 1",
        lambda c: _train(c, "--momentum", "1"),
        2,
        "--momentum must be in",
    ),
    Case(
        "not-a-number",
        "non-numeric learning rate",
        lambda c: _train(c, "--lr", "fast"),
        2,
        "'fast' is not a valid float",
    ),
    Case(
        "data-missing",
        "dataset folder without the files",
        lambda c: _train(c, data="tmp"),
        3,
        "not found. Looked in.*dataset-fashion-mnist.*--download",
    ),
    Case(
        "idx-truncated-gzip",
        "truncated .gz IDX file",
        lambda c: _train(c, data="copy"),
        3,
        "corrupt or truncated gzip",
        setup=_truncate_gz,
    ),
    Case(
        "idx-bad-magic",
        "IDX file with a wrong magic number",
        lambda c: _train(c, data="copy"),
        3,
        "magic number",
        setup=_bad_magic,
    ),
    Case(
        "idx-count-mismatch",
        "5 labels for 256 test images",
        lambda c: _train(c, data="copy"),
        3,
        "256 images but its labels file has 5",
        setup=_labels_short,
    ),
    Case(
        "output-unwritable",
        "output folder below a regular file",
        lambda c: _train(c, "--out", str(c["tmp"] / "f" / "x")),
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
        "resume-other-preset",
        "--resume with another --input-size",
        lambda c: _resume_in_run(c, "--input-size", "64"),
        4,
        "different model",
        protect=_run_files,
    ),
    Case(
        "cuda-missing",
        "--device cuda on a machine without CUDA",
        lambda c: _train(c, "--device", "cuda"),
        6,
        "no CUDA GPU",
    ),
]


@pytest.fixture
def ctx(tmp_path, fake_data, tiny_run):
    return {"tmp": tmp_path, "fake_data": fake_data, "tiny_run": tiny_run}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    import torch

    if case.id == "cuda-missing" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    run_case(case, ctx, capsys)


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)
    json.dumps([c.id for c in CASES])
