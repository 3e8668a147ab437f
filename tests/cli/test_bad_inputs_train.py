"""The bad-input sweep for `vggdeploy train` (issue 14): every numeric option out of range,
runs that must not be overwritten or mixed, a locked run folder, divergence
(see tests/badinput.py for the contract)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import Case, run_case, train_argv

ROOT = Path(__file__).resolve().parents[2]


def _resume(ctx: dict) -> list[str]:
    return ["train", "--resume", "--out", str(ctx["tiny_run"]), "--data-dir", str(ctx["fake_data"])]


def _resume_with(*extra: str):
    return lambda c: [*_resume(c), *extra]


def _run_files(ctx: dict) -> list[Path]:
    run = ctx["tiny_run"]
    return [run / n for n in ("model.json", "model.safetensors", "train_state.json")]


def _hold_lock(ctx: dict) -> None:
    """Another process (an export, say) holds the run folder's lock until the test ends."""
    code = (
        "import sys; from vggdeploy.runlock import run_lock\n"
        "with run_lock(sys.argv[1], 'export'):\n"
        "    print('locked', flush=True); sys.stdin.read()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(ctx["tiny_run"])],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ctx["procs"].append(proc)
    assert proc.stdout.readline().strip() == "locked"


def _foreign_onnx(ctx: dict) -> None:
    (ctx["tmp"] / "out").mkdir()
    (ctx["tmp"] / "out" / "model.onnx").write_bytes(b"an ONNX file of some other weights")


def _numeric(option: str, value: str, message: str) -> Case:
    return Case(
        f"train{option}={value}",
        f"{option} {value}",
        lambda c: train_argv(c, option, value),
        2,
        message,
    )


CASES = [
    _numeric("--seed", "-1", r"--seed must be in \[0, 2\*\*32\)"),
    _numeric("--seed", "4294967296", r"--seed must be in \[0, 2\*\*32\)"),
    _numeric("--warmup-epochs", "inf", "--warmup-epochs must be a finite number >= 0"),
    _numeric("--warmup-epochs", "nan", "--warmup-epochs must be a finite number >= 0"),
    _numeric("--warmup-epochs", "-1", "--warmup-epochs must be a finite number >= 0"),
    _numeric("--weight-decay", "inf", "--weight-decay must be a finite number >= 0"),
    _numeric("--weight-decay", "nan", "--weight-decay must be a finite number >= 0"),
    _numeric("--weight-decay", "-0.1", "--weight-decay must be a finite number >= 0"),
    _numeric("--lr", "nan", "--lr must be a positive number"),
    _numeric("--lr", "inf", "--lr must be a positive number"),
    _numeric("--momentum", "nan", r"--momentum must be in \[0, 1\)"),
    _numeric("--momentum", "-0.5", r"--momentum must be in \[0, 1\)"),
    _numeric("--label-smoothing", "nan", r"--label-smoothing must be in \[0, 1\)"),
    _numeric("--label-smoothing", "-0.1", r"--label-smoothing must be in \[0, 1\)"),
    _numeric("--label-smoothing", "1", r"--label-smoothing must be in \[0, 1\)"),
    _numeric("--erase", "nan", r"--erase must be in \[0, 1\]"),
    _numeric("--erase", "1.5", r"--erase must be in \[0, 1\]"),
    _numeric("--ema", "1", r"--ema must be in \[0, 1\) \(0 turns the weight average off\)"),
    _numeric("--ema", "nan", r"--ema must be in \[0, 1\)"),
    Case(
        "train--erase-without-augment",
        "--erase 0.5 --no-augment (erasing would be silently ignored)",
        lambda c: train_argv(c, "--erase", "0.5", "--no-augment"),
        2,
        r"--erase needs --augment",
    ),
    Case(
        "train--cpu-bf16-on-cuda",
        "--cpu-bf16 --device cuda (bfloat16 would be silently ignored)",
        lambda c: train_argv(c, "--cpu-bf16", "--device", "cuda"),
        2,
        r"--cpu-bf16 is for --device cpu",
    ),
    Case(
        "train--device-not-a-device",
        "--device gpu (not a device name; through the one device parser, not a torch traceback)",
        lambda c: train_argv(c, "--device", "gpu"),
        2,
        r"--device: unknown device 'gpu'.*cpu, cuda, cuda:N or auto",
    ),
    _numeric("--epochs", "-3", "--epochs must be >= 1"),
    _numeric("--batch-size", "-64", "--batch-size must be >= 1"),
    _numeric("--workers", "-1", "--workers must be >= 0"),
    _numeric("--input-size", "0", "--input-size must be >= 1"),
    _numeric("--limit-train", "0", "--limit-train must be >= 1"),
    _numeric("--limit-test", "-5", "--limit-test must be >= 1"),
    Case(
        "train-over-finished-run",
        "train --out a folder holding a finished run",
        lambda c: train_argv(c, out="run"),
        2,
        "already holds a finished run.*--force to replace it \\(removes.*model.safetensors",
        protect=_run_files,
    ),
    Case(
        "train-over-derived-artifacts",
        "train --out a folder holding a model.onnx of another run",
        lambda c: train_argv(c),
        2,
        "already holds artifacts of another run.*removes model.onnx",
        setup=_foreign_onnx,
        protect=lambda c: [c["tmp"] / "out/model.onnx"],
    ),
    Case(
        "resume-and-force",
        "--resume and --force together",
        _resume_with("--force"),
        2,
        "--resume and --force contradict",
        protect=_run_files,
    ),
    Case(
        "resume-other-batch-size",
        "--resume with another --batch-size",
        _resume_with("--batch-size", "32"),
        2,
        r"--batch-size 32 \(the run was started with 64\)",
        protect=_run_files,
    ),
    Case(
        "resume-other-epochs",
        "--resume with more --epochs than the run was started with",
        _resume_with("--epochs", "30"),
        2,
        r"--epochs 30 \(the run was started with 2\)",
        protect=_run_files,
    ),
    Case(
        "resume-other-input-size",
        "--resume with another --input-size",
        _resume_with("--input-size", "64"),
        2,
        r"--input-size 64 \(the run was started with None\)",
        protect=_run_files,
    ),
    Case(
        "run-folder-locked",
        "train --force while another process writes the run folder",
        lambda c: train_argv(c, "--force", out="run"),
        8,
        "is in use by PID \\d+ \\(export:.*did not start",
        setup=_hold_lock,
        protect=_run_files,
    ),
    Case(
        "training-diverges",
        "a learning rate so large that training diverges (--lr 1e30)",
        lambda c: train_argv(c, "--lr", "1e30"),
        7,
        "training diverged.*nothing non-finite was saved.*lower --lr",
    ),
    Case(
        "output-below-a-file",
        "--out below a regular file (checked before the data is read)",
        lambda c: train_argv(c, "--data-dir", str(c["tmp"] / "no-data"), out="f/x"),
        8,
        "cannot write the run folder.*is not a folder",
        setup=lambda c: (c["tmp"] / "f").write_text("file"),
    ),
]


@pytest.fixture
def ctx(tmp_path, fake_data, tiny_run):
    procs: list[subprocess.Popen] = []
    yield {"tmp": tmp_path, "fake_data": fake_data, "tiny_run": tiny_run, "procs": procs}
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)
