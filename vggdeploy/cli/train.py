"""`vggdeploy train`."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from vggdeploy.cli import options
from vggdeploy.train.config import RECIPES, SCHEDULES, TrainConfig

# Every option defaults to None ("not given"): the library applies the recipe, or with --resume the
# run's saved options, and only then TrainConfig's defaults, which the help texts quote.
# Each number's range is TrainConfig.validate's (the Python API's check, one home); the types
# check the spelling (ASCII; integers within int32).
_CHECK = "TrainConfig.validate"
_INT = options.Number(int, range_checked_by=_CHECK)
_FLOAT = options.Number(float, range_checked_by=_CHECK)


def _d(name: str) -> str:
    return options.default_text(options.library_default(TrainConfig, name))


_D2L = RECIPES["d2l"]


@options.library(
    "vggdeploy.train.config:TrainConfig",
    "vggdeploy.train.loop:train",
    cli_only={"out": "the library's train() takes the run folder as a required argument"},
)
@click.command()
@options.preset
@click.option(
    "--recipe",
    type=click.Choice(list(RECIPES)),
    default=None,
    help="Option defaults: the values below, or 'd2l', the seeds' recipe: plain SGD, "
    f"lr {_D2L['lr']}, batch {_D2L['batch_size']}, {_D2L['epochs']} epochs, Xavier init, no "
    f"augmentation. Options given override the recipe (default {_d('recipe')}).",
)
@click.option("--epochs", type=_INT, default=None, help=f"Epochs (default {_d('epochs')}).")
@click.option("--batch-size", type=_INT, default=None, help=f"Batch (default {_d('batch_size')}).")
@click.option("--lr", type=_FLOAT, default=None, help=f"Peak learning rate (default {_d('lr')}).")
@click.option(
    "--momentum", type=_FLOAT, default=None, help=f"Nesterov momentum (default {_d('momentum')})."
)
@click.option(
    "--weight-decay",
    type=_FLOAT,
    default=None,
    help=f"Weight decay (default {_d('weight_decay')}).",
)
@click.option(
    "--schedule",
    type=click.Choice(list(SCHEDULES)),
    default=None,
    help=f"Learning-rate schedule after the warm-up (default {_d('schedule')}: linear to zero).",
)
@click.option(
    "--warmup-epochs", type=_FLOAT, default=None, help="Linear warm-up (default: 20% of the run)."
)
@click.option(
    "--label-smoothing",
    type=_FLOAT,
    default=None,
    help=f"Label smoothing (default {_d('label_smoothing')}).",
)
@click.option(
    "--augment/--no-augment",
    default=None,
    help=f"Random flip + 2 px shift (default {_d('augment')}).",
)
@click.option(
    "--erase",
    type=_FLOAT,
    default=None,
    help=f"Random-erasing probability per image, with --augment (default {_d('erase')}).",
)
@click.option(
    "--ema",
    type=_FLOAT,
    default=None,
    help=f"Decay of the weight average that is evaluated and saved; 0 = off (default {_d('ema')}).",
)
@click.option(
    "--init", type=click.Choice(["xavier", "kaiming"]), default=None, help="Default: the preset's."
)
@click.option(
    "--seed",
    type=options.Number(int, max=2**32, range_checked_by=_CHECK),
    default=None,
    help=f"Random seed in [0, 2**32) (default {_d('seed')}).",
)
@click.option(
    "--device",
    type=options.DEVICE,
    default=None,
    help=f"cpu, cuda, cuda:N or auto (default {_d('device')}).",
)
@click.option(
    "--amp/--no-amp", default=None, help=f"float16 autocast on CUDA (default {_d('amp')})."
)
@click.option(
    "--cpu-bf16/--no-cpu-bf16",
    default=None,
    help=f"bfloat16 autocast on CPU (default {_d('cpu_bf16')}: decided by the CPU's flags, on "
    "where it pays, i.e. CPUs with AMX-BF16; see benchmarks/TRAINING.md).",
)
@click.option(
    "--workers", type=_INT, default=None, help=f"Data loader workers (default {_d('workers')})."
)
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help=f"channels-last memory format (default {_d('channels_last')}).",
)
@click.option("--input-size", type=_INT, default=None, help="Override the preset's input size.")
@click.option("--limit-train", type=_INT, default=None, help="Use only the first N train images.")
@click.option("--limit-test", type=_INT, default=None, help="Use only the first N test images.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default="runs/default",
    show_default=True,
    help="Run folder for model.safetensors, model.json, history.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out with its saved options (options given must agree).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the run in --out: removes its weights, history, state and every artifact "
    "derived from it (*.onnx, *.pt2, *.engine, reports, bench/) before training.",
)
@options.data_dir
@options.download
@click.pass_context
def train(
    ctx: click.Context,
    out: str,
    resume: bool,
    force: bool,
    data_dir: str | None,
    download: bool,
    **kw,
) -> None:
    """Train a VGG preset on Fashion-MNIST and write a checkpoint to --out.

    A folder that already holds a run is refused: --resume continues it, --force replaces it."""
    from vggdeploy.train.guard import resolve_config
    from vggdeploy.train.loop import train as run_train

    # Only the options given go to the library: it applies them on top of the recipe, or with
    # --resume on top of the run's saved options (vggdeploy.train.guard.resolve_config).
    given = {
        k: v
        for k, v in kw.items()
        if v is not None and ctx.get_parameter_source(k) is ParameterSource.COMMANDLINE
    }
    # resolved (and validated: a bad number is exit 2 naming its option) before anything else
    cfg = resolve_config(Path(out), given, resume=resume)
    result = run_train(
        cfg, out, data_dir=data_dir, download=download, resume=resume, force=force, log=click.echo
    )
    if result.history and result.is_main:
        click.echo(f"test accuracy: {result.test_accuracy:.4f}")
