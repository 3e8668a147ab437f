"""Runs are never destroyed or silently mixed (issue 14): existing runs, --force, --resume options,
the run-folder lock, stale temp files, a full disk, divergence, SIGINT/SIGTERM exit codes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_doubles import StopAfter

from vggdeploy import _io
from vggdeploy.artifacts.checkpoint import load_checkpoint
from vggdeploy.artifacts.run_folder import (
    CALIBRATION_PATTERN,
    DERIVED_DIRS,
    ENGINES_DIR,
    report_path_for,
)
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.cli import main
from vggdeploy.errors import RunLockedError, TrainingDivergedError
from vggdeploy.runlock import LOCK_NAME, run_lock
from vggdeploy.train import loop as train_mod
from vggdeploy.train import state as train_state
from vggdeploy.train.guard import check_finite_weights
from vggdeploy.train.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
SMALL = ["--epochs", "1", "--limit-train", "64", "--limit-test", "64"]


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != LOCK_NAME
    }


def _cli(out: Path, data: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(out), "--data-dir", str(data), *extra]


# ---- existing runs, --force ---------------------------------------------------------------------
def test_train_refuses_a_finished_run(tiny_run, fake_data, capsys):
    before = _digests(tiny_run)
    assert main(_cli(tiny_run, fake_data, *SMALL)) == 2
    err = capsys.readouterr().err
    assert "already holds a finished run" in err and "--force" in err
    assert "model.safetensors" in err  # --force says what it would remove
    assert _digests(tiny_run) == before


def test_unfinished_run_hint_resumes_with_the_original_options(
    tmp_path, fake_data, capsys, monkeypatch
):
    out = tmp_path / "cut"
    argv = _cli(out, fake_data, "--epochs", "2", "--batch-size", "32", "--lr", "0.03")
    argv += ["--limit-train", "128", "--limit-test", "64", "--no-augment"]
    monkeypatch.setattr(train_mod, "StopRequest", lambda: StopAfter(2))  # stop at epoch 1 step 2
    assert main(argv) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(argv) == 2  # the same command again: refused, it would start over
    err = capsys.readouterr().err
    assert "unfinished run (0 of 2 epochs saved)" in err
    resume = shlex.split(err.split("continue it with `")[1].split("`")[0])
    assert resume[:3] == ["vggdeploy", "train", "--resume"]
    assert {"--lr", "0.03", "--batch-size", "32", "--no-augment"} <= set(resume)
    (out / "model.onnx").write_bytes(b"exported from the interrupted weights")
    assert main(["train", "--resume", "--out", str(out), "--data-dir", str(fake_data)]) == 0
    assert "note: model.onnx" in capsys.readouterr().out  # it is stale now, and we say so
    meta = json.loads((out / "model.json").read_text())
    # a bare --resume continued with the saved options (not the defaults: 12 epochs, batch 128)
    assert meta["metrics"]["epochs_done"] == 2 and meta["metrics"]["complete"] is True
    assert meta["training"]["batch_size"] == 32 and meta["training"]["augment"] is False


def _derived_names() -> list[str]:
    """One file for every artifact the backend registry knows in a run folder (fixed names, and
    each glob instantiated), with its companion and export report; the stages' other outputs."""
    names: list[str] = []
    for info in BACKENDS.values():
        made = list(info.run_files) + [g.replace("*", "old") for g in info.run_globs]
        for name in made:
            names.append(name)
            names.append(report_path_for(Path(name)).as_posix())
            if info.companion:
                names.append(name + info.companion)
    names.append(CALIBRATION_PATTERN.replace("*", "percentile"))
    names += [f"{d}/old-report.json" for d in DERIVED_DIRS]
    return sorted(set(names))


def test_force_replaces_the_run_and_everything_derived_from_it(tiny_run, fake_data, capsys):
    """The cases come from the registry: every artifact it knows in RUN (engines/ included), its
    companions and reports, calibration caches, bench/ and debug/; files vggdeploy did not
    write (notes.txt, a .onnx of another name, a file in engines/) stay."""
    derived = _derived_names()
    assert any(n.startswith(ENGINES_DIR + "/") for n in derived)
    for name in derived:
        (tiny_run / name).parent.mkdir(parents=True, exist_ok=True)
        (tiny_run / name).write_bytes(b"derived from the old weights")
    mine = ["notes.txt", "my-own-model.onnx.bak", f"{ENGINES_DIR}/README.mine"]
    for name in mine:
        (tiny_run / name).write_text("mine")
    old_weights = (tiny_run / "model.safetensors").read_bytes()
    assert main(_cli(tiny_run, fake_data, *SMALL, "--force", "--lr", "0.01")) == 0
    out = capsys.readouterr().out
    assert "--force: replacing a finished run" in out
    for name in ("model.onnx", "model.fp16.onnx", "bench/", "debug/", "model.safetensors"):
        assert name in out
    for name in derived:
        assert not (tiny_run / name).exists(), name
    for name in mine:
        assert (tiny_run / name).read_text() == "mine"
    left = sorted(p.name for p in tiny_run.iterdir())
    assert left == sorted(
        [
            LOCK_NAME,
            ENGINES_DIR,
            "curves.png",
            "history.csv",
            "history.json",
            "model.json",
            "model.safetensors",
            "my-own-model.onnx.bak",
            "notes.txt",
            "train_state-e0001-s000000.safetensors",
            "train_state.json",
        ]
    )
    assert (tiny_run / "model.safetensors").read_bytes() != old_weights
    assert json.loads((tiny_run / "model.json").read_text())["training"]["lr"] == 0.01
    load_checkpoint(tiny_run)


def test_force_removes_an_engines_folder_it_emptied(tiny_run, fake_data):
    (tiny_run / ENGINES_DIR).mkdir()
    (tiny_run / ENGINES_DIR / "old.fp16.engine").write_bytes(b"plan")
    (tiny_run / ENGINES_DIR / "old.fp16.engine.json").write_text("{}")
    (tiny_run / ENGINES_DIR / "old.cpu.pt2").write_bytes(b"pk")
    assert main(_cli(tiny_run, fake_data, *SMALL, "--force")) == 0
    assert not (tiny_run / ENGINES_DIR).exists()


# ---- --resume options ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra,message",
    [
        (["--batch-size", "32"], "--batch-size 32 (the run was started with 64)"),
        (["--epochs", "5"], "--epochs 5 (the run was started with 2)"),
        (["--preset", "vgg11"], "--preset 'vgg11' (the run was started with 'vgg-mini')"),
        (["--lr", "0.1", "--seed", "3"], "--lr 0.1 (the run was started with 0.05); --seed 3"),
    ],
)
def test_resume_with_contradicting_options_names_them(tiny_run, fake_data, capsys, extra, message):
    before = _digests(tiny_run)
    argv = ["train", "--resume", "--out", str(tiny_run), "--data-dir", str(fake_data), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert _digests(tiny_run) == before


def test_resume_may_change_device_and_workers(tiny_run, fake_data, capsys):
    argv = ["train", "--resume", "--out", str(tiny_run), "--data-dir", str(fake_data)]
    assert main([*argv, "--device", "cpu", "--workers", "0", "--epochs", "2"]) == 0
    assert "nothing to do" in capsys.readouterr().out


# ---- the run-folder lock ------------------------------------------------------------------------
HOLD = (
    "import sys; from vggdeploy.runlock import run_lock\n"
    "with run_lock(sys.argv[1], 'export'):\n"
    "    print('locked', flush=True); sys.stdin.read()\n"
)


def test_a_second_process_cannot_write_a_locked_run_folder(tiny_run, fake_data):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tiny_run)],
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _digests(tiny_run)
        cmd = [sys.executable, "-m", "vggdeploy", *_cli(tiny_run, fake_data, *SMALL, "--force")]
        second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
        assert second.returncode == 8, second.stderr
        assert f"run folder '{tiny_run}' is in use by PID {holder.pid} (export:" in second.stderr
        assert _digests(tiny_run) == before  # --force removed nothing
        with pytest.raises(RunLockedError, match=f"PID {holder.pid}"):  # and in-process
            with run_lock(tiny_run, "build-engine"):
                pass
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the killed holder's lock: nothing stale blocks the next writer
    with run_lock(tiny_run, "export"):
        with run_lock(tiny_run, "export"):  # re-entrant in one process
            pass


# ---- stale temp files ---------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_write_removes_only_stale_temp_files(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f".model.json.{_dead_pid()}.abcd1234.tmp"
        live = tmp_path / f".model.onnx.{sleeper.pid}.abcd1234.tmp"
        mine = tmp_path / f".history.json.{os.getpid()}.abcd1234.tmp"
        legacy = tmp_path / ".curves.png.k2j4h5l6.tmp"  # older vggdeploy: no PID in the name
        for p in (dead, live, mine, legacy):
            p.write_bytes(b"partial")
        _io.write_json(tmp_path / "a.json", {})
        assert not dead.exists()
        assert live.exists() and mine.exists() and legacy.exists()  # maybe still being written
        old = time.time() - 3600
        os.utime(live, (old, old))
        os.utime(legacy, (old, old))
        with run_lock(tmp_path, "train"):  # older than our lock: nobody can be writing them
            fresh = tmp_path / f".model.engine.{sleeper.pid}.abcd1234.tmp"
            fresh.write_bytes(b"x")
            _io.write_json(tmp_path / "b.json", {})
        assert not live.exists() and not legacy.exists()
        assert mine.exists() and fresh.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# ---- out of space ------------------------------------------------------------------------------
def test_full_disk_during_training_keeps_the_last_consistent_checkpoint(
    tmp_path, fake_data, capsys, monkeypatch
):
    """The disk fills up while the 2nd epoch's model.json is written (after its weights): exit 8,
    no temp files, and model.json + model.safetensors are still epoch 1's matching pair."""
    real_save, real_fsync = train_mod.save_checkpoint, os.fsync
    saves = []

    def fsync_full_after_first(fd):
        saves.append(fd)
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    def save_checkpoint(out, model, spec):
        if spec.provenance["metrics"]["epochs_done"] == 2:
            monkeypatch.setattr(os, "fsync", fsync_full_after_first)
        try:
            return real_save(out, model, spec)
        finally:
            monkeypatch.setattr(os, "fsync", real_fsync)

    monkeypatch.setattr(train_mod, "save_checkpoint", save_checkpoint)
    out = tmp_path / "r"
    code = main(_cli(out, fake_data, "--epochs", "2", "--limit-train", "64", "--limit-test", "64"))
    err = capsys.readouterr().err
    assert code == 8, err
    assert "No space left on device" in err and "free some disk space" in err
    assert "--resume" in err
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    _, spec = load_checkpoint(out)  # weights and JSON still match (sha256 checked)
    assert spec.provenance["metrics"]["epochs_done"] == 1


# ---- divergence ---------------------------------------------------------------------------------
def test_huge_learning_rate_is_a_divergence_error_and_saves_nothing(tmp_path, fake_data, capsys):
    out = tmp_path / "r"
    assert main(_cli(out, fake_data, *SMALL, "--lr", "1e30")) == 7
    err = capsys.readouterr().err
    assert "training diverged" in err and "lower --lr (was 1e+30)" in err
    assert not (out / "model.json").exists() and not (out / "train_state.json").exists()


def test_divergence_in_a_later_epoch_keeps_the_last_finite_checkpoint(
    tmp_path, fake_data, monkeypatch
):
    monkeypatch.setattr(TrainConfig, "lr_at", lambda self, step, per: 0.05 if step < per else 1e30)
    cfg = TrainConfig(epochs=3, batch_size=32, limit_train=64, limit_test=64)
    with pytest.raises(TrainingDivergedError, match="keeps the checkpoint of epoch 1"):
        train(cfg, tmp_path / "r", data_dir=str(fake_data), log=lambda *_: None)
    model, spec = load_checkpoint(tmp_path / "r")
    assert spec.provenance["metrics"]["epochs_done"] == 1
    assert spec.provenance["metrics"]["complete"] is False
    assert json.loads((tmp_path / "r/train_state.json").read_text())["epoch"] == 1
    check_finite_weights(model, "test", cfg, tmp_path, 1)  # what was kept is finite


def test_non_finite_weights_are_caught_before_saving(tmp_path):
    import torch

    model = torch.nn.Linear(2, 2)
    check_finite_weights(model, "here", TrainConfig(), tmp_path, 0)
    with torch.no_grad():
        model.bias[0] = float("nan")
    with pytest.raises(TrainingDivergedError, match=r"NaN/inf \(here: bias\).*no checkpoint"):
        check_finite_weights(model, "here", TrainConfig(), tmp_path, 0)


# ---- signals ------------------------------------------------------------------------------------
def test_interrupt_exit_codes_follow_the_signal():
    assert train_state.TrainingInterrupted("x", signal_name="SIGINT").exit_code == 130
    assert train_state.TrainingInterrupted("x", signal_name="SIGTERM").exit_code == 143


# ---- README --------------------------------------------------------------------------------------
def test_readme_exit_code_table_has_every_code_the_commands_use():
    """Every error class's code, plus 130 (SIGINT) and 143 (SIGTERM) of an interrupted training."""
    import re

    from vggdeploy.errors import EXIT_CODES

    text = (ROOT / "README.md").read_text()
    table = text.split("## Exit codes", 1)[1].split("\n\n", 2)[1]
    codes = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert set(EXIT_CODES) | {0, 130, 143} <= codes
