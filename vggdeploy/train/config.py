"""What a training run is asked to do and what it returns.

:class:`TrainConfig` holds the options, their validation and the learning-rate schedule as a pure
function of the step; :class:`TrainResult` is what :func:`vggdeploy.train.loop.train` returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from vggdeploy import _args
from vggdeploy.backends.base import parse_device
from vggdeploy.errors import UsageError
from vggdeploy.models.presets import DEFAULT_PRESET, make_spec
from vggdeploy.spec import ModelSpec

# More data-loader processes than this is a typo on any machine (each is a real OS process).
MAX_WORKERS = 256
# Side of a square input: the presets take 28..224, and the classifier's first layer grows with
# the square of the side (at 1024, vgg-mini's already holds ~0.5 G weights).
MAX_INPUT_SIZE = 1024

SCHEDULES = ("onecycle", "cosine", "step", "constant")

# Options a recipe sets; every other field keeps its dataclass default. "default" is the dataclass
# itself (measured in benchmarks/TRAINING.md); "d2l" is the seeds' recipe (d2l.ai, chapter "VGG"):
# plain SGD at lr 0.05, batch 128, 10 epochs, Xavier init, no augmentation or regularisation.
RECIPES: dict[str, dict[str, object]] = {
    "default": {},
    "d2l": dict(
        epochs=10,
        batch_size=128,
        lr=0.05,
        momentum=0.0,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=0.0,
        label_smoothing=0.0,
        augment=False,
        erase=0.0,
        ema=0.0,
        init="xavier",
    ),
}


def cpu_bf16_pays(features=None) -> bool:
    """Whether bfloat16 autocast speeds CPU training up on this CPU (``--cpu-bf16``'s automatic
    default). Yes with AMX-BF16 tiles (the default run trains 1.49x the images/s of fp32 on a
    2-core AMX Xeon, same accuracy within one run's noise: benchmarks/TRAINING.md). No without
    native BF16 (emulated, 10.6x slower, benchmarks/TRAINING.md) and not yet with AVX512_BF16
    alone (AMD Zen 4: 1.4x in benchmarks/train_bf16.py on a loaded machine, pairs 0.97-2.04x:
    unconfirmed, TRAINING.md)."""
    from vggdeploy.backends.cpu_features import cpu_features

    f = features if features is not None else cpu_features()
    return "amx_bf16" in f.flags and f.amx


@dataclass
class TrainConfig:
    preset: str = DEFAULT_PRESET
    recipe: str = "default"  # a name from RECIPES (recorded; see TrainConfig.from_recipe)
    epochs: int = 16
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9  # Nesterov whenever momentum > 0
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup_epochs: float | None = None  # None: 20 % of the run (so it scales with --epochs)
    label_smoothing: float = 0.1
    augment: bool = True  # random horizontal flip + translation by up to 2 pixels
    erase: float = 0.0  # probability of random erasing per training image (needs augment)
    ema: float = 0.999  # decay of the weight average that is evaluated and saved; 0 turns it off
    init: str | None = None  # weight init; None keeps the preset's
    seed: int = 0
    device: str = "cpu"
    amp: bool = True  # float16 autocast, only used on CUDA
    cpu_bf16: bool | None = None  # bfloat16 autocast on CPU; None: where it pays (cpu_bf16_pays)
    workers: int = 0
    channels_last: bool = True
    limit_train: int | None = None  # use the first N training images (tests, smoke runs)
    limit_test: int | None = None
    input_size: int | None = None

    def __post_init__(self) -> None:
        # A config is checked where it is made (CLI and Python alike): ``TrainConfig(device="gpu")``
        # is a UsageError naming --device, never a torch traceback minutes later.
        self.validate()

    @classmethod
    def from_recipe(cls, recipe: str = "default", **options) -> TrainConfig:
        """The recipe's settings, then ``options`` on top (an option given always wins)."""
        if recipe not in RECIPES:
            raise UsageError(
                f"unknown --recipe '{recipe}'", hint=f"valid recipes: {', '.join(RECIPES)}"
            )
        return cls(**{**RECIPES[recipe], **options, "recipe": recipe})

    def spec(self) -> ModelSpec:
        """The network this run trains: the preset at --input-size, with --init if given."""
        arch = {"init": self.init} if self.init else {}
        return make_spec(self.preset, input_size=self.input_size, **arch)

    @property
    def warmup(self) -> float:
        """Warm-up length in epochs: the option, or 20 % of the run."""
        return 0.2 * self.epochs if self.warmup_epochs is None else self.warmup_epochs

    def validate(self) -> TrainConfig:
        """UsageError naming the first option of the wrong type or out of range (NaN and inf fail
        every check).

        ``device`` is parsed by the one device parser and kept in its canonical form ("cpu",
        "cuda", "cuda:N"; "auto" becomes the device torch sees)."""
        self._check_types()
        self.device = str(parse_device(self.device))
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
                self.warmup_epochs is None or (fin(self.warmup_epochs) and self.warmup_epochs >= 0),
                "--warmup-epochs must be a finite number >= 0",
            ),
            (0 <= self.erase <= 1, "--erase must be in [0, 1]"),
            (0 <= self.ema < 1, "--ema must be in [0, 1) (0 turns the weight average off)"),
            (self.init in (None, "xavier", "kaiming"), "--init must be xavier or kaiming"),
            (self.recipe in RECIPES, f"--recipe must be one of {', '.join(RECIPES)}"),
            (
                self.augment or self.erase == 0,
                "--erase needs --augment (random erasing is part of the augmentation)",
            ),
            (
                not (self.cpu_bf16 and self.device != "cpu"),
                f"--cpu-bf16 is for --device cpu (got {self.device}; CUDA uses --amp)",
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
        if self.cpu_bf16 is None:  # automatic: decided by this CPU (recorded resolved)
            self.cpu_bf16 = self.device == "cpu" and cpu_bf16_pays()
        return self

    def _check_types(self) -> None:
        """Types first (a str epoch count would raise TypeError in the range checks), and the
        upper bounds: counts fit int32; workers and input size stay within what one machine and
        these 28x28 images make sensible (MAX_WORKERS, MAX_INPUT_SIZE)."""
        for name in ("epochs", "batch_size"):
            _args.integer(_flag(name), getattr(self, name))
        for name in ("limit_train", "limit_test"):
            _args.optional_integer(_flag(name), getattr(self, name))
        _args.integer("--seed", self.seed, max=_args.UINT64_MAX)  # range: below
        _args.integer("--workers", self.workers, max=MAX_WORKERS)
        _args.optional_integer("--input-size", self.input_size, max=MAX_INPUT_SIZE)
        for name in ("lr", "momentum", "weight_decay", "label_smoothing", "erase", "ema"):
            _real(_flag(name), getattr(self, name))
        if self.warmup_epochs is not None:
            _real("--warmup-epochs", self.warmup_epochs)
            if math.isfinite(self.warmup_epochs) and self.warmup_epochs > _args.INT32_MAX:
                raise UsageError(f"--warmup-epochs must be <= {_args.INT32_MAX} epochs")
        for name in ("augment", "amp", "channels_last"):
            _args.boolean(_flag(name), getattr(self, name))
        _args.optional_boolean("--cpu-bf16", self.cpu_bf16)  # None: decided by the CPU
        for name in ("preset", "recipe", "schedule", "device"):
            _args.text(_flag(name), getattr(self, name))
        if self.init is not None:
            _args.text("--init", self.init)
        self.device = str(parse_device(self.device))

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate as a pure function of the global step (no scheduler state to save)."""
        total = self.epochs * steps_per_epoch
        warm = min(int(self.warmup * steps_per_epoch), total - 1)
        if step < warm:
            return self.lr * (step + 1) / warm
        if self.schedule == "constant":
            return self.lr
        progress = (step - warm) / max(1, total - warm)
        if self.schedule == "onecycle":  # triangular: linear up, then linear down to zero
            return self.lr * (total - step) / max(1, total - warm)
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


def _flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _real(name: str, value: object) -> None:
    """A real number (NaN/inf pass: the range checks name them with their own message)."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(
            f"{name} must be a number, got {_args.show(value)} ({type(value).__name__})"
        )
    try:
        float(value)
    except OverflowError:  # an int beyond float's range: math.isfinite would raise
        raise UsageError(f"{name} must be a finite number, got {_args.show(value)}") from None
