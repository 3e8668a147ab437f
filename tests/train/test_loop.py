import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from train_doubles import StopAfter

from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.train import loop as train_mod
from vggdeploy.train.loop import TrainConfig, train
from vggdeploy.train.state import TrainingInterrupted

FAST = dict(batch_size=64, lr=0.05, warmup_epochs=0.5, limit_train=256, limit_test=128)


def test_train_writes_checkpoint_history_and_metrics(tmp_path, fake_data):
    result = train(
        TrainConfig(epochs=2, **FAST), tmp_path / "r", data_dir=str(fake_data), log=lambda *_: None
    )
    out = tmp_path / "r"
    for name in (
        "model.safetensors",
        "model.json",
        "history.json",
        "history.csv",
        "curves.png",
        "train_state.json",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "model.json").read_text())
    assert meta["metrics"]["complete"] is True and meta["metrics"]["epochs_done"] == 2
    assert 0 <= meta["metrics"]["test_accuracy"] <= 1
    assert meta["metrics"]["test_accuracy"] == result.test_accuracy
    assert meta["training"]["epochs"] == 2
    assert set(meta["data"]["sha256"]) == {
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    }
    assert list((out).glob("*.tmp")) == []
    assert len(list(out.glob("train_state-e*.safetensors"))) == 1


# 4 steps per epoch; the flag is checked after every step and once at each epoch's end.
@pytest.mark.parametrize("checks,position", [(7, (1, 3)), (8, (2, 0))])  # mid-epoch / epoch end
def test_interrupt_and_resume_reach_the_same_weights(
    tmp_path, fake_data, monkeypatch, checks, position
):
    cfg = TrainConfig(epochs=3, **FAST)
    train(cfg, tmp_path / "full", data_dir=str(fake_data), log=lambda *_: None)

    monkeypatch.setattr(train_mod, "StopRequest", lambda: StopAfter(checks))
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(cfg, tmp_path / "cut", data_dir=str(fake_data), log=lambda *_: None)
    state = json.loads((tmp_path / "cut/train_state.json").read_text())
    assert (state["epoch"], state["step"]) == position
    monkeypatch.undo()
    result = train(cfg, tmp_path / "cut", data_dir=str(fake_data), resume=True, log=lambda *_: None)
    assert (tmp_path / "full/model.safetensors").read_bytes() == (
        tmp_path / "cut/model.safetensors"
    ).read_bytes()
    full_hist = json.loads((tmp_path / "full/history.json").read_text())
    assert [h["test_accuracy"] for h in result.history] == [h["test_accuracy"] for h in full_hist]
    assert [round(h["train_loss"], 6) for h in result.history] == [
        round(h["train_loss"], 6) for h in full_hist
    ]


def test_sigterm_saves_a_resumable_state(tmp_path, fake_data):
    """A real SIGTERM to `vggdeploy train`: exit 143, previous files intact, no temp files, and
    the printed `--resume` command (the original options) finishes the run."""
    out = tmp_path / "sig"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "vggdeploy",
        "train",
        "--out",
        str(out),
        "--data-dir",
        str(fake_data),
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--limit-train",
        "256",
        "--limit-test",
        "32",
        "--lr",
        "0.02",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the first epoch is done and saved
        assert line.startswith("epoch"), line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "--resume" in err
    assert not list(out.glob(".*.tmp"))
    state = json.loads((out / "train_state.json").read_text())
    assert 1 <= state["epoch"] < 3
    meta = json.loads((out / "model.json").read_text())
    assert meta["metrics"]["complete"] is False
    hint = re.search(r"continue with `([^`]*)`", err).group(1)
    argv = shlex.split(hint)
    assert argv[:3] == ["vggdeploy", "train", "--resume"]
    assert {"--epochs", "--batch-size", "--limit-train", "--lr", "--data-dir"} <= set(argv)
    assert main(argv[1:]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["metrics"]["complete"] is True and meta["training"]["batch_size"] == 8


def test_resume_without_state_or_with_other_preset(tmp_path, fake_data):
    with pytest.raises(ArtifactError, match="cannot resume"):
        train(
            TrainConfig(epochs=1, **FAST), tmp_path / "empty", data_dir=str(fake_data), resume=True
        )
    train(
        TrainConfig(epochs=1, **FAST), tmp_path / "r", data_dir=str(fake_data), log=lambda *_: None
    )
    with pytest.raises(
        UsageError, match=r"--epochs 2 \(the run was started with 1\).*--input-size"
    ):
        train(
            TrainConfig(epochs=2, input_size=64, **FAST),
            tmp_path / "r",
            data_dir=str(fake_data),
            resume=True,
            log=lambda *_: None,
        )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--lr", "-1"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--epochs", "0"], "--epochs"),
        (["--momentum", "1.5"], "--momentum"),
        (["--preset", "vgg42"], "unknown preset"),
    ],
)
def test_cli_rejects_nonsense(tmp_path, fake_data, capsys, args, message):
    code = main(["train", "--out", str(tmp_path / "r"), "--data-dir", str(fake_data), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_unwritable_output(tmp_path, fake_data, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(
        [
            "train",
            "--out",
            str(blocker / "sub"),
            "--data-dir",
            str(fake_data),
            "--epochs",
            "1",
            "--limit-train",
            "64",
            "--limit-test",
            "64",
        ]
    )
    assert code == 8
    assert "cannot create output folder" in capsys.readouterr().err


def test_cli_train_prints_accuracy(tmp_path, fake_data, capsys):
    code = main(
        [
            "train",
            "--out",
            str(tmp_path / "r"),
            "--data-dir",
            str(fake_data),
            "--epochs",
            "1",
            "--limit-train",
            "128",
            "--limit-test",
            "64",
        ]
    )
    assert code == 0
    assert "test accuracy:" in capsys.readouterr().out


def test_ddp_two_cpu_processes(tmp_path, fake_data):
    """`torchrun --nproc_per_node=2` trains with DDP (gloo); only rank 0 writes."""
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "vggdeploy",
        "train",
        "--out",
        str(out),
        "--data-dir",
        str(fake_data),
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--limit-train",
        "256",
        "--limit-test",
        "128",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["world_size"] == 2
    assert meta["metrics"]["complete"] is True
    assert proc.stdout.count("test accuracy:") == 1  # rank 0 only


def test_config_validation_lists_option():
    with pytest.raises(UsageError, match="--workers"):
        TrainConfig(workers=-1).validate()
