"""`vggdeploy predict MODEL IMAGE...`: classify image files or .npy arrays with any artifact."""

from __future__ import annotations

import json

import click

from vggdeploy.backends.registry import BACKENDS
from vggdeploy.cli import options

BACKEND_CHOICES = tuple(BACKENDS)  # the registry's backends (openvino included)


@options.library(
    "vggdeploy.serve.predictor:load",
    "vggdeploy.serve.predictor:Predictions.to_records",
    "vggdeploy.serve.predictor:Predictor.predict",
    cli_only={"as_json": "how the command prints the predictions"},
)
@click.command()
@click.argument("model", type=click.Path(path_type=str))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of predictions.")
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default=None,
    help="Override the backend chosen from the artifact type.",
)
@click.option("--top-k", default=3, show_default=True, type=options.POSITIVE_INT)
@click.option("--max-batch", default=None, type=options.BATCH, help="Images per inference call.")
@click.option(
    "--preprocessed",
    is_flag=True,
    help="The .npy inputs are already the model's normalised float N x C x H x W tensors "
    "(without it, float arrays are pixel intensities in 0..1).",
)
def predict(
    model: str,
    images: tuple[str, ...],
    as_json: bool,
    backend: str | None,
    top_k: int,
    max_batch: int | None,
    preprocessed: bool,
) -> None:
    """Classify IMAGE files (PNG/JPEG/...), .npy arrays or '-' (one image or .npy on stdin).

    Images of any size and colour become one grayscale image of the model's native size
    (README "Accepted inputs"). MODEL is a run folder, model.onnx, NAME.engine or NAME.pt2; its
    ModelSpec sets the preprocessing and class names. Doubtful inputs (a light background) are
    answered with a warning on stderr.
    """
    import warnings

    from vggdeploy.serve.predictor import InputQualityWarning, load

    with load(model, backend=backend, max_batch=max_batch) as predictor:
        with warnings.catch_warnings():  # said per image below instead
            warnings.simplefilter("ignore", InputQualityWarning)
            result = predictor.predict(list(images), preprocessed=preprocessed)
    for note in result.warnings:
        click.echo(f"warning: {note}", err=True)
    records = result.to_records(top_k=top_k)
    if as_json:
        # strict JSON: probabilities are finite (the Predictor refuses NaN/Inf outputs)
        click.echo(json.dumps(records, indent=2, allow_nan=False))
        return
    width = max(len(r["source"]) for r in records)
    for r in records:
        others = ", ".join(f"{t['class_name']} {t['probability']:.3f}" for t in r["top"][1:])
        click.echo(
            f"{r['source']:<{width}}  {r['class_id']:>2} {r['class_name']:<12} "
            f"{r['probability']:.3f}" + (f"   ({others})" if others else "")
        )
