import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vggdeploy import train as train_mod
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.train import TrainConfig, train

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


def test_resume_reaches_the_same_weights(tmp_path, fake_data, monkeypatch):
    cfg = TrainConfig(epochs=3, **FAST)
    train(cfg, tmp_path / "full", data_dir=str(fake_data), log=lambda *_: None)

    calls = {"n": 0}
    real = train_mod._write_history

    def interrupt_after_first_epoch(out, history):
        real(out, history)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived right after the epoch-1 checkpoint

    monkeypatch.setattr(train_mod, "_write_history", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", data_dir=str(fake_data), log=lambda *_: None)
    meta = json.loads((tmp_path / "cut/model.json").read_text())
    assert meta["metrics"]["epochs_done"] == 1 and meta["metrics"]["complete"] is False
    monkeypatch.setattr(train_mod, "_write_history", real)
    train(cfg, tmp_path / "cut", data_dir=str(fake_data), resume=True, log=lambda *_: None)
    full = (tmp_path / "full/model.safetensors").read_bytes()
    resumed = (tmp_path / "cut/model.safetensors").read_bytes()
    assert full == resumed


def test_resume_without_state_or_with_other_preset(tmp_path, fake_data):
    with pytest.raises(ArtifactError, match="cannot resume"):
        train(
            TrainConfig(epochs=1, **FAST), tmp_path / "empty", data_dir=str(fake_data), resume=True
        )
    train(
        TrainConfig(epochs=1, **FAST), tmp_path / "r", data_dir=str(fake_data), log=lambda *_: None
    )
    with pytest.raises(ArtifactError, match="different model"):
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
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
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
