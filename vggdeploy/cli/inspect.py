"""`vggdeploy inspect FILE`: what an artifact is, without running it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _engine_lines(info: dict[str, Any]) -> list[str]:
    s = info["sidecar"]
    prof, trt, build = s["profile"], s["tensorrt"], s["build"]
    lines = [
        f"TensorRT engine   {info['engine']}  ({s['engine']['size'] / 1e6:.2f} MB)",
        f"integrity         {info['integrity']}",
        f"precision         {s['precision']}",
        f"model             {s['model_spec']['preset']} "
        f"(input {s['model_spec']['input']['name']} "
        f"{s['model_spec']['input']['channels']}x{s['model_spec']['input']['height']}x"
        f"{s['model_spec']['input']['width']}, {s['model_spec']['num_classes']} classes)",
        f"batch profile     min {prof['min'][0]}, opt {prof['opt'][0]}, max {prof['max'][0]}",
        f"built with        TensorRT {trt['version']} on {s['device']['name']} "
        f"(compute capability {'.'.join(map(str, s['device']['compute_capability']))})",
        f"compatibility     version-compatible: "
        f"{'yes' if trt.get('version_compatible') else 'no'}, "
        f"hardware: {trt.get('hardware_compat', 'none')}",
        f"built             {build.get('created', '?')} in {build.get('seconds', '?')} s",
        f"rebuild           {build.get('command', '?')}",
    ]
    for t in s["io"]:
        lines.append(f"{t['mode']:<17} {t['name']}: {t['dtype']} {t['shape']}")
    layers = info.get("layers")
    if layers is None:
        lines.append(
            f"layers            unavailable: {info.get('layers_unavailable', 'see above')}"
        )
    else:
        items = layers.get("Layers", []) if isinstance(layers, dict) else []
        lines.append(f"layers            {len(items)} (TensorRT engine inspector)")
        for layer in items:
            if isinstance(layer, dict):
                name = layer.get("Name", "?")
                kind = layer.get("LayerType", "")
                tactic = layer.get("TacticName", "")
                lines.append(f"  {name}  {kind}  {tactic}".rstrip())
            else:
                lines.append(f"  {layer}")
    return lines


def _package_lines(info: dict[str, Any]) -> list[str]:
    spec, build = info["model_spec"], info["build"]
    batch = build.get("batch", {})
    return [
        f"AOTInductor package  {info['package']}  ({info['size'] / 1e6:.2f} MB)",
        f"sha256               {info['sha256']}",
        f"model                {spec['preset']} ({spec['num_classes']} classes)",
        f"device               {build.get('device', '?')}",
        f"batch                {batch.get('min')}..{batch.get('max')}",
        f"built by             torch {build.get('torch', '?')}, vggdeploy {build.get('vggdeploy')}",
        *(f"{k:<20} {v}" for k, v in info["aoti"].items()),
    ]


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


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect(file: Path, as_json: bool) -> None:
    """Describe an artifact: .onnx (ModelSpec, I/O, opset, op counts), a TensorRT .engine (its
    sidecar and, where TensorRT runs, its layers) or an AOTInductor .pt2 package."""
    from ..inspection import describe

    info = describe(file)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    elif file.suffix == ".engine" and "sidecar" in info:
        click.echo("\n".join(_engine_lines(info)))
    elif file.suffix == ".pt2" and {"model_spec", "build", "aoti"} <= set(info):
        click.echo("\n".join(_package_lines(info)))
    else:
        click.echo(_render(info))
