"""`vggdeploy triton-repo RUN_OR_MODEL -o REPO`: a Triton Inference Server model repository."""

from __future__ import annotations

import shlex

import click

from vggdeploy.artifacts.onnx_meta import DEFAULT_VERIFIED_MAX_BATCH
from vggdeploy.cli import options
from vggdeploy.serve.triton_config import FIELD_MAX, INSTANCE_KINDS

_LIBRARY = "vggdeploy.serve.triton:build_triton_repo"


def _d(name: str):  # build_triton_repo's default: the one home of this command's defaults
    return options.library_default(_LIBRARY, name)


@options.library(_LIBRARY)
@click.command("triton-repo")
@click.argument("source", metavar="RUN_OR_MODEL", type=click.Path(path_type=str))
@click.option("-o", "--out", required=True, type=click.Path(path_type=str), help="Repository.")
@click.option("--name", default=None, help="Model name (default: the run folder's name).")
@click.option("--onnx", default=None, type=click.Path(path_type=str), help="ONNX model to serve.")
@click.option(
    "--engine", default=None, type=click.Path(path_type=str), help="TensorRT engine to serve."
)
@click.option(
    "--max-batch",
    default=None,
    type=options.Number(int, min=1, max=FIELD_MAX["max_batch"]),
    help="max_batch_size (default: ONNX, the largest batch it was verified at: export's "
    f"--max-batch, {DEFAULT_VERIFIED_MAX_BATCH} unless given; an engine, its profile's).",
)
@click.option(
    "--instances",
    default=_d("instances"),
    show_default=True,
    type=options.Number(int, min=1, max=FIELD_MAX["instances"]),
    help="Instances per model.",
)
@click.option(
    "--kind",
    type=click.Choice(list(INSTANCE_KINDS)),
    default=_d("kind"),
    show_default=True,
    help="Instance kind of the ONNX model (TensorRT plans always run on GPU).",
)
@click.option(
    "--preferred-batch-sizes",
    default=None,
    type=options.NumberList(options.Number(int, min=1, max=FIELD_MAX["preferred_batch_sizes"])),
    metavar="B1,B2,...",
    help="Dynamic batching preferred sizes (default: max/2,max).",
)
@click.option(
    "--max-queue-delay-us",
    default=_d("max_queue_delay_us"),
    show_default=True,
    type=options.Number(int, min=0, max=FIELD_MAX["max_queue_delay_us"]),
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the model folder whole: a different model, your edits and files.",
)
def triton_repo(
    source: str,
    out: str,
    name: str | None,
    onnx: str | None,
    engine: str | None,
    max_batch: int | None,
    instances: int,
    kind: str,
    preferred_batch_sizes: tuple[int, ...] | None,
    max_queue_delay_us: int,
    force: bool,
) -> None:
    """Write REPO/<name>/config.pbtxt, 1/model.onnx (and/or a TensorRT model) and labels."""
    from vggdeploy.serve.triton import build_triton_repo

    written = build_triton_repo(
        source,
        out,
        name=name,
        onnx=onnx,
        engine=engine,
        max_batch=max_batch,
        instances=instances,
        kind=kind,
        preferred_batch_sizes=preferred_batch_sizes,
        max_queue_delay_us=max_queue_delay_us,
        force=force,
        log=lambda message: click.echo(message, err=True),
    )
    for folder in written:
        click.echo(f"wrote {folder}/config.pbtxt")
    click.echo("serve with: " + shlex.join(["tritonserver", f"--model-repository={out}"]))
