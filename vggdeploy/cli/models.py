"""`vggdeploy models` and `vggdeploy summary`."""

from __future__ import annotations

import sys

import click

from vggdeploy.cli import options


@options.library()
@click.command()
def models() -> None:
    """List the model presets with parameters, FLOPs and input size."""
    from rich.console import Console
    from rich.table import Table

    from vggdeploy.models import DEFAULT_PRESET, PRESETS, make_spec, model_stats

    table = Table(title="VGG presets (Fashion-MNIST: 1 channel, 10 classes)")
    for col in ("preset", "input", "params", "GFLOPs", "description"):
        table.add_column(col, justify="right" if col in ("params", "GFLOPs") else "left")
    for name, cfg in PRESETS.items():
        spec = make_spec(name)
        stats = model_stats(spec)
        label = f"{name} (default)" if name == DEFAULT_PRESET else name
        table.add_row(
            label,
            "x".join(map(str, spec.input.shape(1)[1:])),
            f"{stats['params'] / 1e6:.2f} M",
            f"{stats['flops'] / 1e9:.3f}",
            cfg["description"],
        )
    (Console() if sys.stdout.isatty() else Console(width=160)).print(table)
    click.echo("FLOPs = 2 x multiply-accumulates of conv and linear layers, one image.")


@options.library("vggdeploy.models.presets:make_spec", "vggdeploy.models.vgg:layer_shapes")
@click.command()
@options.preset
@click.option(
    "--batch",
    default=1,  # layer_shapes' default (models.vgg imports torch: too slow to read for --help)
    show_default=True,
    type=options.BATCH,
)
def summary(preset: str | None, batch: int) -> None:
    """Print each layer's output shape for a preset."""
    from vggdeploy.models import layer_shapes, make_spec, model_stats

    spec = make_spec(preset) if preset else make_spec()
    click.echo(f"{spec.preset}: input {tuple(spec.input.shape(batch))}")
    for name, kind, shape in layer_shapes(spec, batch):
        click.echo(f"{name:<15} {kind:<12} output shape: {list(shape)}")
    stats = model_stats(spec)
    click.echo(f"params: {stats['params']:,}  FLOPs/image: {stats['flops']:,}")
