"""The default training recipe's parts: one-cycle schedule that scales with the run, random
erasing, the weight average (evaluated, saved, resumed), lazy loss checks, --recipe d2l, and
resuming runs saved before these options existed."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from vggdeploy.cli import main
from vggdeploy.errors import TrainingDivergedError, UsageError
from vggdeploy.train.batches import augment, erase_fill
from vggdeploy.train.guard import LEGACY, saved_config
from vggdeploy.train.loop import TrainConfig, train

TINY = dict(batch_size=32, limit_train=128, limit_test=64)


@pytest.mark.parametrize("epochs", [1, 3, 16])
def test_onecycle_warmup_is_a_fifth_of_the_run_and_ends_at_zero(epochs):
    cfg, per = TrainConfig(epochs=epochs), 50
    lrs = [cfg.lr_at(step, per) for step in range(epochs * per)]
    assert lrs.index(max(lrs)) == int(0.2 * epochs * per) - 1
    assert max(lrs) == pytest.approx(cfg.lr)
    assert all(lr > 0 for lr in lrs) and lrs[-1] <= cfg.lr / (0.8 * epochs * per) + 1e-12
    decay = lrs[lrs.index(max(lrs)) :]
    assert all(b <= a for a, b in zip(decay, decay[1:], strict=False))


def test_explicit_warmup_and_a_warmup_longer_than_the_run():
    assert TrainConfig(epochs=2, warmup_epochs=0.5).warmup == 0.5
    lrs = [TrainConfig(epochs=1, warmup_epochs=5).lr_at(s, 10) for s in range(10)]
    assert lrs == sorted(lrs) and lrs[-1] > 0  # clamped: warms up over the whole run, no error


def test_random_erasing_boxes_follow_the_probability_and_area():
    images = np.full((2000, 28, 28), 200, np.uint8)
    out = augment(images, np.random.default_rng(0), shift=0, erase=0.5, fill=7)
    erased = (out == 7).mean(axis=(1, 2))
    assert 0.45 < (erased > 0).mean() < 0.55
    assert erased[erased > 0].min() >= 0.015 and erased.max() <= 0.27
    again = augment(images, np.random.default_rng(0), shift=0, erase=0.5, fill=7)
    assert np.array_equal(out, again)
    assert not (augment(images, np.random.default_rng(0), shift=0, erase=0.0, fill=7) == 7).any()


def test_erased_pixels_normalise_to_about_zero():
    from vggdeploy.data.preprocess import preprocess

    spec = TrainConfig().spec()
    x = preprocess(np.full((1, 28, 28), erase_fill(spec), np.uint8), spec)[0, 0]
    top = (x.shape[0] - 28) // 2  # the default preset may pad the image
    assert np.abs(x[top : top + 28, top : top + 28]).max() < 0.01


def test_the_weight_average_is_what_is_evaluated_saved_and_resumed(tmp_path, fake_data):
    quiet = dict(data_dir=str(fake_data), log=lambda *_: None)
    train(TrainConfig(epochs=2, ema=0.9, **TINY), tmp_path / "ema", **quiet)
    state = json.loads((tmp_path / "ema/train_state.json").read_text())
    blob = load_file(tmp_path / "ema" / state["file"])
    saved = load_file(tmp_path / "ema/model.safetensors")
    assert any(k.startswith("ema.") for k in blob) and int(blob["ema.n_averaged"]) == 8
    key = "features.0.weight"
    assert np.array_equal(saved[key], blob[f"ema.module.{key}"])
    assert not np.array_equal(saved[key], blob[f"model.{key}"])

    train(TrainConfig(epochs=2, ema=0.0, **TINY), tmp_path / "raw", **quiet)
    state = json.loads((tmp_path / "raw/train_state.json").read_text())
    blob = load_file(tmp_path / "raw" / state["file"])
    assert not any(k.startswith("ema.") for k in blob)
    assert np.array_equal(load_file(tmp_path / "raw/model.safetensors")[key], blob[f"model.{key}"])


def test_a_nonfinite_loss_is_named_by_its_step_although_checked_lazily(
    tmp_path, fake_data, monkeypatch
):
    monkeypatch.setattr(TrainConfig, "lr_at", lambda self, step, per: 0.05 if step < 2 else 1e30)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step [34]\)"):
        train(TrainConfig(epochs=1, **TINY), tmp_path / "r", data_dir=str(fake_data))
    assert not (tmp_path / "r/model.json").exists()


def test_recipe_d2l_sets_the_seeds_options_and_given_ones_win():
    cfg = TrainConfig.from_recipe("d2l")
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.momentum) == (10, 128, 0.05, 0.0)
    assert not cfg.augment and cfg.ema == 0 and cfg.label_smoothing == 0
    assert cfg.schedule == "constant" and cfg.spec().arch.init == "xavier"
    assert TrainConfig.from_recipe("d2l", epochs=2).epochs == 2
    assert TrainConfig.from_recipe() == TrainConfig()
    with pytest.raises(UsageError, match="unknown --recipe 'x'"):
        TrainConfig.from_recipe("x")


def test_cli_recipe_d2l_is_recorded_in_the_checkpoint(tmp_path, fake_data, capsys):
    out = tmp_path / "d2l"
    argv = ["train", "--recipe", "d2l", "--epochs", "1", "--out", str(out)]
    argv += ["--data-dir", str(fake_data), "--batch-size", "32", "--limit-train", "64"]
    assert main(argv) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["recipe"] == "d2l" and meta["training"]["momentum"] == 0.0
    assert meta["training"]["batch_size"] == 32  # the option given beats the recipe's 128
    assert meta["arch"]["init"] == "xavier"
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path / "x")]) == 2


def test_runs_saved_before_the_new_options_resume_with_how_they_were_trained(tmp_path):
    legacy = {"preset": "vgg-mini", "epochs": 12, "schedule": "cosine", "warmup_epochs": 1.0}
    (tmp_path / "train_state.json").write_text(json.dumps({"config": legacy}))
    saved = saved_config(tmp_path)
    assert saved["ema"] == 0.0 and saved["erase"] == 0.0 and saved["recipe"] == "default"
    assert set(LEGACY) <= set(TrainConfig.__dataclass_fields__)


def test_cpu_bf16_autocast_trains_finite_fp32_weights(tmp_path, fake_data):
    result = train(
        TrainConfig(epochs=1, cpu_bf16=True, batch_size=32, limit_train=32, limit_test=32),
        tmp_path / "bf16",
        data_dir=str(fake_data),
        log=lambda *_: None,
    )
    assert np.isfinite(result.history[-1]["train_loss"])
    weights = load_file(tmp_path / "bf16/model.safetensors")
    assert all(v.dtype in (np.float32, np.int64) for v in weights.values())
