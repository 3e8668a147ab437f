"""`vggdeploy serve ARTIFACT_OR_RUN`: the model behind a real Triton Inference Server (pytriton)."""

from __future__ import annotations

import click

from vggdeploy.cli import options
from vggdeploy.cli.predict import BACKEND_CHOICES

PORT = options.Number(int, min=1, max=65535)
# Triton starts one handler per instance; beyond this a typo is likelier than intent
MAX_INSTANCES = 64


@options.library(
    "vggdeploy.serve.server:ServeOptions", renamed={"drain_timeout": "drain_timeout_s"}
)
@click.command()
@click.argument("artifact", metavar="ARTIFACT_OR_RUN", type=click.Path(path_type=str))
@click.option("--model-name", default=None, help="Served model name (default: the run's name).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 exposes the server to the network (an explicit choice).",
)
@click.option("--http-port", default=8000, show_default=True, type=PORT)
@click.option("--grpc-port", default=8001, show_default=True, type=PORT)
@click.option("--metrics-port", default=8002, show_default=True, type=PORT)
@click.option(
    "--max-batch",
    default=None,
    type=options.BATCH,
    help="Most images per request and per dynamic batch (default: 64, or the engine's maximum).",
)
@click.option(
    "--max-queue-delay-us",
    default=1000,
    show_default=True,
    type=options.Number(int, min=0, max=10_000_000),
    help="Dynamic batching: how long a request may wait for others to join its batch.",
)
@click.option(
    "--instances",
    default=1,
    show_default=True,
    type=options.Number(int, min=1, max=MAX_INSTANCES),
    help="Model instances (concurrent executions sharing one loaded model).",
)
@click.option(
    "--device",
    type=options.DEVICE,
    default=None,
    help="cpu, cuda or cuda:N (default: the backend's).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default=None,
    help="Override the backend chosen from the artifact type.",
)
@click.option(
    "--drain-timeout",
    default=30,
    show_default=True,
    type=options.Number(int, min=1, max=3600),
    help="Seconds in-flight requests may take to finish after SIGTERM / Ctrl-C.",
)
def serve(
    artifact: str,
    model_name: str | None,
    host: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    max_batch: int | None,
    max_queue_delay_us: int,
    instances: int,
    device: str | None,
    backend: str | None,
    drain_timeout: int,
) -> None:
    """Serve ARTIFACT_OR_RUN (run folder, .onnx, .pt2, .engine) with Triton over HTTP and gRPC.

    Inputs per request: encoded images as BYTES ('image', or 'image_base64' in JSON), or the
    preprocessed FP32 tensor; outputs: logits, probabilities, class_id, class_name (README
    "Serving with Triton"). Runs until Ctrl-C (exit 130) or SIGTERM (exit 143), draining
    in-flight requests. Needs the serve extra: pip install 'vggdeploy[serve]'.
    """
    from vggdeploy.serve.server import ServeOptions, serve_forever

    opts = ServeOptions(
        model_name=model_name,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        max_batch=max_batch,
        max_queue_delay_us=max_queue_delay_us,
        instances=instances,
        device=device,
        backend=backend,
        drain_timeout_s=drain_timeout,
    )
    serve_forever(artifact, opts, echo=lambda line: click.echo(line))
