"""`vggdeploy inspect`."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("file", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect(file: str, as_json: bool) -> None:
    """Describe an artifact: .onnx (ModelSpec, I/O, opset, op counts), .engine or .pt2."""
    from ..inspection import describe

    info = describe(file)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(_render(info))


def _render(info: dict, indent: int = 0) -> str:
    pad = "  " * indent
    lines = []
    for key, value in info.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines.append(_render(value, indent + 1))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{key}:")
            for item in value:
                lines.append(f"{pad}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            lines.append(f"{pad}{key}: {value}")
    return "\n".join(lines)
