"""What a training run is asked to do and what it returns.

:class:`TrainConfig` holds the options, their validation and the learning-rate schedule as a pure
function of the step; :class:`TrainResult` is what :func:`vggdeploy.train.train` returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .models.presets import DEFAULT_PRESET
from .spec import ModelSpec

SCHEDULES = ("cosine", "step", "constant")


@dataclass
class TrainConfig:
    preset: str = DEFAULT_PRESET
    epochs: int = 12
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    augment: bool = True
    seed: int = 0
    device: str = "cpu"
    amp: bool = True  # only used on CUDA
    workers: int = 0
    channels_last: bool = True
    limit_train: int | None = None  # use the first N training images (tests, smoke runs)
    limit_test: int | None = None
    input_size: int | None = None

    def validate(self) -> TrainConfig:
        """UsageError naming the first option out of range (NaN and inf fail every check)."""
        fin = math.isfinite
        checks = [
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.lr > 0 and fin(self.lr), "--lr must be a positive number"),
            (0 <= self.momentum < 1, "--momentum must be in [0, 1)"),
            (
                fin(self.weight_decay) and self.weight_decay >= 0,
                "--weight-decay must be a finite number >= 0",
            ),
            (
                fin(self.warmup_epochs) and self.warmup_epochs >= 0,
                "--warmup-epochs must be a finite number >= 0",
            ),
            (0 <= self.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
            (0 <= self.seed < 2**32, "--seed must be in [0, 2**32)"),
            (self.workers >= 0, "--workers must be >= 0"),
            (self.input_size is None or self.input_size >= 1, "--input-size must be >= 1"),
            (self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}"),
            (self.limit_train is None or self.limit_train >= 1, "--limit-train must be >= 1"),
            (self.limit_test is None or self.limit_test >= 1, "--limit-test must be >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)
        return self

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate as a pure function of the global step (no scheduler state to save)."""
        total = self.epochs * steps_per_epoch
        warm = int(self.warmup_epochs * steps_per_epoch)
        if step < warm:
            return self.lr * (step + 1) / warm
        if self.schedule == "constant":
            return self.lr
        progress = (step - warm) / max(1, total - warm)
        if self.schedule == "step":
            return self.lr * (0.1 ** int(progress * 3))
        return 0.5 * self.lr * (1 + math.cos(math.pi * progress))


@dataclass
class TrainResult:
    out: Path
    spec: ModelSpec
    history: list[dict[str, float]] = field(default_factory=list)
    is_main: bool = True  # False on DDP ranks other than 0

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_accuracy"]
