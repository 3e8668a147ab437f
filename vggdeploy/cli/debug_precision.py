"""`vggdeploy debug-precision RUN`: per-layer error of a precision variant against FP32."""

from __future__ import annotations

import click

from vggdeploy.cli import options
from vggdeploy.debug.diagnose import DEBUG_PRECISIONS, MAX_DROP_PT
from vggdeploy.export.quantize import INT8_TARGETS

_LIBRARY = "vggdeploy.debug.diagnose:debug_precision"


def _d(name: str):  # debug_precision's default: the one home of this command's defaults
    return options.library_default(_LIBRARY, name)


@options.library(_LIBRARY)
@click.command("debug-precision")
@click.argument("run", metavar="RUN", type=click.Path(path_type=str))
@click.option(
    "--precision",
    type=click.Choice(list(DEBUG_PRECISIONS)),
    default=_d("precision"),
    show_default=True,
)
@click.option(
    "--target",
    type=click.Choice(list(INT8_TARGETS)),
    default=_d("target"),
    show_default=True,
    help="INT8 variant: tensorrt -> model.int8.onnx, cpu -> model.int8-cpu.onnx.",
)
@click.option(
    "--images",
    type=options.Number(int, range_checked_by="debug_precision"),
    default=_d("images"),
    show_default=True,
    help="Test images to run (first N).",
)
@click.option(
    "--threshold-db",
    type=options.Number(float),
    default=_d("threshold_db"),
    show_default=True,
    help="A layer whose SNR falls below this diverges (20 dB = relative L2 error 0.1).",
)
@click.option(
    "--sensitivity",
    is_flag=True,
    help="Also rebuild the variant with each compute layer kept in FP32 and rank the layers.",
)
@click.option(
    "--layers",
    default=None,
    metavar="LAYER[,LAYER...]",
    help="Sensitivity: try only these layers (default: every Conv/Gemm/MatMul).",
)
@click.option(
    "--max-drop",
    "max_drop_pt",
    type=options.Number(float, min=0, max=MAX_DROP_PT),
    default=None,
    help="Sensitivity target: accuracy drop in points (default: the export tolerance).",
)
@click.option(
    "--min-agreement",
    type=options.FRACTION,
    default=None,
    help="Sensitivity target: top-1 agreement with FP32, 0..1 (default: not required).",
)
@options.data_dir
@click.option(
    "-o", "--out", "out_dir", type=click.Path(path_type=str), default=None,
    help="Report folder (default RUN/debug).",
)  # fmt: skip
@click.option(
    "--force", is_flag=True,
    help="Replace report files of these names that vggdeploy did not write (or that were edited).",
)  # fmt: skip
def debug_precision(run: str, **kw) -> None:
    """Compare every layer of RUN's FP16 or INT8 variant with the FP32 model on real test images;
    name the first divergent layer and (--sensitivity) the layers to keep in FP32."""
    from vggdeploy.debug import debug_precision as diagnose
    from vggdeploy.debug.report import layer_table, sensitivity_lines, summary_lines

    result = diagnose(run, log=click.echo, **kw)
    click.echo("")
    for line in [*layer_table(result), "", *summary_lines(result)]:
        click.echo(line)
    if result.get("sensitivity"):
        click.echo("")
        for line in sensitivity_lines(result["sensitivity"]):
            click.echo(line)
    click.echo("wrote " + ", ".join(result["files"].values()))
