"""`vggdeploy export`."""

from __future__ import annotations

import click

from . import options


@click.command()
@click.argument("checkpoint", metavar="RUN_OR_CHECKPOINT", type=click.Path(path_type=str))
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    metavar="fp32|fp16|int8|all",
    help="Variants to write (comma-separated); model.onnx (FP32) is always written.",
)
@click.option(
    "--target",
    "targets",
    type=click.Choice(["tensorrt", "cpu", "all"]),
    default="all",
    show_default=True,
    help="INT8 target: tensorrt -> model.int8.onnx, cpu -> model.int8-cpu.onnx.",
)
@click.option("--opset", type=options.POSITIVE_INT, default=None, help="ONNX opset (default 20).")
@click.option("--max-batch", type=options.BATCH, default=None, help="Largest batch (default 64).")
@click.option("--simplify/--no-simplify", default=None, help="onnxslim (default: if installed).")
@click.option("--verify/--no-verify", default=True, show_default=True)
@click.option(
    "--atol",
    type=options.NON_NEGATIVE_FLOAT,
    default=None,
    help="FP32 absolute tolerance (default 1e-4).",
)
@click.option(
    "--rtol",
    type=options.NON_NEGATIVE_FLOAT,
    default=None,
    help="FP32 relative tolerance (default 1e-3).",
)
@click.option(
    "--calib-size", type=options.POSITIVE_INT, default=None, help="Train images (default 512)."
)
@click.option(
    "--calib-method",
    type=click.Choice(["entropy", "percentile", "minmax"]),
    default=None,
    help="INT8 calibration (default percentile).",
)
@options.data_dir
@click.option(
    "--limit-test",
    type=options.POSITIVE_INT,
    default=None,
    help="Judge variants on the first N test images only (default: all 10,000).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=str),
    default=None,
    help="Output folder or .onnx path (default: the run folder).",
)
def export(checkpoint: str, targets: str, **kw) -> None:
    """Export a checkpoint to ONNX (dynamic batch), verified against PyTorch; optionally FP16 and
    INT8 (Q/DQ) variants with their test-set accuracy."""
    from ..precision import export_variants

    _preflight(checkpoint, kw.get("out"), kw.get("max_batch"))
    kw = {k: v for k, v in kw.items() if v is not None or k == "simplify"}
    kw["precisions"] = kw.pop("precision")
    kw["targets"] = ("tensorrt", "cpu") if targets == "all" else (targets,)
    results = export_variants(checkpoint, log=click.echo, **kw)
    click.echo("")
    click.echo(f"{'file':<22} {'test acc':>9} {'drop pt':>8} {'agree':>8} {'max|Δ|':>9}")
    for result in results.values():
        r = result.report
        v = r.get("verification") or {}
        ts = v.get("test_set") or {}
        if r["precision"] == "fp32":
            acc = (r.get("test_set") or {}).get("accuracy")
            drop, agree, diff = 0.0, v.get("top1_agreement"), v.get("max_abs")
        else:
            acc, drop = ts.get("out_accuracy"), ts.get("accuracy_drop_pt")
            agree, diff = ts.get("top1_agreement"), ts.get("max_abs")
        click.echo(
            f"{result.path.name:<22} {_pct(acc):>9} {_num(drop, '+.2f'):>8} "
            f"{_pct(agree):>8} {_num(diff, '.3g'):>9}"
        )
    click.echo(
        "agree / max|Δ|: model.onnx vs PyTorch (verification batches); variants vs model.onnx "
        "on the test set"
    )


def _preflight(checkpoint: str, out: str | None, max_batch: int | None) -> None:
    """Before the export and its verification run: the output folder must be writable and
    ``--max-batch`` (verified at that batch) must fit in memory."""
    from .._io import ensure_writable_dir
    from ..checkpoint import read_spec
    from ..export import model_path_for
    from ..spec import check_batch_memory

    spec = read_spec(checkpoint)  # exit 4 for a missing or corrupt checkpoint, as export says
    if max_batch is not None:
        check_batch_memory(spec, max_batch, "--max-batch")
    ensure_writable_dir(model_path_for(checkpoint, out).parent, "export folder")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)
