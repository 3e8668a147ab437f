"""`vggdeploy export`: parse, call :func:`vggdeploy.export.pipeline.export_variants`, print its
summary.
Defaults live in the library (the help texts quote its constants)."""

from __future__ import annotations

import click

from vggdeploy.artifacts.onnx_meta import DEFAULT_VERIFIED_MAX_BATCH
from vggdeploy.cli import options
from vggdeploy.export.onnx import DEFAULT_OPSET, FP32_ATOL, FP32_RTOL
from vggdeploy.export.quantize import (
    CALIB_METHODS,
    DEFAULT_CALIB_METHOD,
    DEFAULT_CALIB_SIZE,
    INT8_TARGETS,
)


@click.command()
@click.argument("checkpoint", metavar="RUN_OR_CHECKPOINT", type=click.Path(path_type=str))
@click.option(
    "--precision",
    "precisions",
    default="fp32",
    show_default=True,
    metavar="fp32|fp16|int8|all",
    help="Variants to write (comma-separated). fp32 (re-)exports model.onnx; fp16/int8 derive "
    "from it, exporting it first only when it is missing or stale.",
)
@click.option(
    "--target",
    "targets",
    type=click.Choice([*INT8_TARGETS, "all"]),
    default="all",
    show_default=True,
    help="INT8 target: tensorrt -> model.int8.onnx, cpu -> model.int8-cpu.onnx.",
)
@click.option(
    "--opset",
    type=options.POSITIVE_INT,
    default=None,
    help=f"ONNX opset (default {DEFAULT_OPSET}).",
)
@click.option(
    "--max-batch",
    type=options.BATCH,
    default=None,
    help=f"Largest batch verified and recorded (default {DEFAULT_VERIFIED_MAX_BATCH}).",
)
@click.option("--simplify/--no-simplify", default=None, help="onnxslim (default: if installed).")
@click.option("--verify/--no-verify", default=True, show_default=True)
@click.option(
    "--atol",
    type=options.NON_NEGATIVE_FLOAT,
    default=None,
    help=f"FP32 absolute tolerance ({FP32_ATOL:g}).",
)
@click.option(
    "--rtol",
    type=options.NON_NEGATIVE_FLOAT,
    default=None,
    help=f"FP32 relative tolerance ({FP32_RTOL:g}).",
)
@click.option(
    "--calib-size",
    type=options.POSITIVE_INT,
    default=None,
    help=f"Train images (default {DEFAULT_CALIB_SIZE}).",
)
@click.option(
    "--calib-method",
    type=click.Choice(CALIB_METHODS),
    default=None,
    help=f"INT8 calibration (default {DEFAULT_CALIB_METHOD}).",
)
@options.data_dir
@click.option(
    "--limit-test",
    type=options.POSITIVE_INT,
    default=None,
    help="Judge variants on the first N test images only (default: all 10,000).",
)
@click.option(
    "--keep-fp32",
    default=None,
    metavar="LAYER[,LAYER...]",
    help="Layers the fp16/int8 variants keep in FP32 (names as `vggdeploy debug-precision` "
    "prints them).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=str),
    default=None,
    help="Output folder or .onnx path (default: the run folder).",
)
def export(checkpoint: str, **kw) -> None:
    """Export a checkpoint to ONNX (dynamic batch), verified against PyTorch; optionally FP16 and
    INT8 (Q/DQ) variants with their test-set accuracy."""
    from vggdeploy.export.pipeline import export_variants, summary_lines

    given = {k: v for k, v in kw.items() if v is not None or k == "simplify"}
    results = export_variants(checkpoint, log=click.echo, **given)
    click.echo("")
    for line in summary_lines(results):
        click.echo(line)
