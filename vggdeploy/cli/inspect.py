"""`vggdeploy inspect`: what an artifact is, without running it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect(file: Path, as_json: bool) -> None:
    """Describe an artifact: .onnx (ModelSpec, I/O, opset, op counts), a TensorRT .engine (its
    sidecar and, where TensorRT runs, its layers) or an AOTInductor .pt2 package."""
    from vggdeploy._io import dumps_json
    from vggdeploy.backends.inspection import describe, render

    info = describe(file)
    if as_json:  # strict JSON: an undefined number is null, never a bare NaN
        click.echo(dumps_json(info, indent=2, default=str))
    else:
        click.echo(render(file, info))
