"""`vggdeploy train`."""

from __future__ import annotations

import click
from click.core import ParameterSource

from vggdeploy.cli import options
from vggdeploy.train.config import RECIPES, SCHEDULES, TrainConfig

_D = TrainConfig()  # the default recipe; help texts quote it, so there is one home for it
# Each number's range is TrainConfig.validate's (the Python API's check, one home); the types
# check the spelling (ASCII; integers within int32), and the command validates before training.
_CHECK = "TrainConfig.validate"
_INT = options.Number(int, range_checked_by=_CHECK)
_FLOAT = options.Number(float, range_checked_by=_CHECK)


@click.command()
@options.preset
@click.option(
    "--recipe",
    type=click.Choice(list(RECIPES)),
    default=None,
    help="Option defaults: 'default' (below) or 'd2l', the seeds' recipe: plain SGD, lr 0.05, "
    "batch 128, 10 epochs, Xavier init, no augmentation. Options given override the recipe.",
)
@click.option("--epochs", type=_INT, default=None, help=f"Epochs (default {_D.epochs}).")
@click.option("--batch-size", type=_INT, default=None, help=f"Batch (default {_D.batch_size}).")
@click.option("--lr", type=_FLOAT, default=None, help=f"Peak learning rate (default {_D.lr}).")
@click.option(
    "--momentum",
    type=_FLOAT,
    default=None,
    help=f"Nesterov momentum (default {_D.momentum}).",
)
@click.option(
    "--weight-decay",
    type=_FLOAT,
    default=None,
    help=f"Weight decay (default {_D.weight_decay}).",
)
@click.option(
    "--schedule",
    type=click.Choice(list(SCHEDULES)),
    default=None,
    help=f"Learning-rate schedule after the warm-up (default {_D.schedule}: linear to zero).",
)
@click.option(
    "--warmup-epochs",
    type=_FLOAT,
    default=None,
    help="Linear warm-up (default 20% of the run).",
)
@click.option(
    "--label-smoothing",
    type=_FLOAT,
    default=None,
    help=f"Default {_D.label_smoothing}.",
)
@click.option("--augment/--no-augment", default=None, help="Random flip + 2 px shift (default on).")
@click.option(
    "--erase",
    type=_FLOAT,
    default=None,
    help=f"Random-erasing probability per image, with --augment (default {_D.erase}).",
)
@click.option(
    "--ema",
    type=_FLOAT,
    default=None,
    help=f"Decay of the weight average that is evaluated and saved; 0 = off (default {_D.ema}).",
)
@click.option(
    "--init", type=click.Choice(["xavier", "kaiming"]), default=None, help="Default: the preset's."
)
@click.option(
    "--seed",
    type=options.Number(int, max=2**32, range_checked_by=_CHECK),
    default=None,
    help="Random seed in [0, 2**32) (default 0).",
)
@click.option("--device", type=options.DEVICE, default=None, help="cpu (default), cuda or cuda:N.")
@click.option("--amp/--no-amp", default=None, help="float16 autocast on CUDA (default on).")
@click.option(
    "--cpu-bf16/--no-cpu-bf16",
    default=None,
    help="bfloat16 autocast on CPU (default off: it pays only on CPUs with avx512_bf16; "
    "see benchmarks/TRAINING.md).",
)
@click.option(
    "--workers",
    type=_INT,
    default=None,
    help="Data loader workers (default 0).",
)
@click.option("--channels-last/--no-channels-last", default=None, help="Default on.")
@click.option(
    "--input-size",
    type=_INT,
    default=None,
    help="Override the preset's input size.",
)
@click.option(
    "--limit-train",
    type=_INT,
    default=None,
    help="Use only the first N train images.",
)
@click.option(
    "--limit-test",
    type=_INT,
    default=None,
    help="Use only the first N test images.",
)
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
    from pathlib import Path

    from vggdeploy.train.guard import check_resume_options, saved_config
    from vggdeploy.train.loop import train as run_train

    given = {
        k: v
        for k, v in kw.items()
        if v is not None and ctx.get_parameter_source(k) is ParameterSource.COMMANDLINE
    }
    saved = saved_config(Path(out)) if resume else None
    if saved is not None:  # continue with the saved options; a contradicting one is an error
        check_resume_options(saved, given, Path(out))
        known = set(TrainConfig.__dataclass_fields__)
        cfg = TrainConfig(**{**{k: v for k, v in saved.items() if k in known}, **given})
    else:
        cfg = TrainConfig.from_recipe(**given)
    cfg.validate()  # every bad number is exit 2 naming its option, before data is loaded
    result = run_train(
        cfg, out, data_dir=data_dir, download=download, resume=resume, force=force, log=click.echo
    )
    if result.history and result.is_main:
        click.echo(f"test accuracy: {result.test_accuracy:.4f}")
