"""`vggdeploy train`."""

from __future__ import annotations

import click

from . import options


@click.command()
@options.preset
@click.option("--epochs", type=int, default=None, help="Epochs (default 12).")
@click.option("--batch-size", type=int, default=None, help="Global batch size (default 128).")
@click.option("--lr", type=float, default=None, help="Peak learning rate (default 0.05).")
@click.option("--momentum", type=float, default=None, help="SGD momentum (default 0.9).")
@click.option("--weight-decay", type=float, default=None, help="Weight decay (default 5e-4).")
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default=None)
@click.option("--warmup-epochs", type=float, default=None, help="Linear warm-up (default 1).")
@click.option("--label-smoothing", type=float, default=None, help="Default 0.1.")
@click.option("--augment/--no-augment", default=None, help="Random flip + 2 px shift (default on).")
@click.option("--seed", type=int, default=None)
@click.option("--device", default=None, help="cpu (default), cuda or cuda:N.")
@click.option("--amp/--no-amp", default=None, help="Mixed precision on CUDA (default on).")
@click.option("--workers", type=int, default=None, help="Data loader workers (default 0).")
@click.option("--channels-last/--no-channels-last", default=None, help="Default on.")
@click.option("--input-size", type=int, default=None, help="Override the preset's input size.")
@click.option("--limit-train", type=int, default=None, help="Use only the first N train images.")
@click.option("--limit-test", type=int, default=None, help="Use only the first N test images.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default="runs/default",
    show_default=True,
    help="Run folder for model.safetensors, model.json, history.",
)
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out.")
@options.data_dir
@options.download
def train(out: str, resume: bool, data_dir: str | None, download: bool, **kw) -> None:
    """Train a VGG preset on Fashion-MNIST and write a checkpoint to --out."""
    from ..train import TrainConfig
    from ..train import train as run_train

    cfg = TrainConfig(**{k: v for k, v in kw.items() if v is not None})
    result = run_train(
        cfg, out, data_dir=data_dir, download=download, resume=resume, log=click.echo
    )
    if result.history and result.is_main:
        click.echo(f"test accuracy: {result.test_accuracy:.4f}")
