"""`vggdeploy bench`: latency and accuracy of every backend x precision x batch in one table."""

from __future__ import annotations

import sys

import click

from vggdeploy.bench.run import BenchConfig
from vggdeploy.cli import options


def _default(name: str):  # BenchConfig's default: the one home of bench's defaults
    return options.library_default(BenchConfig, name)


@options.library(
    "vggdeploy.bench.run:BenchConfig",
    "vggdeploy.bench.report:write_outputs",
    renamed={"duration": "duration_s", "out": "out_dir"},
)
@click.command()
@click.argument("run", type=click.Path(path_type=str))
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="Benchmark this file (.onnx/.engine/.pt2) instead of discovering that backend's "
    "artifacts in RUN. Repeatable.",
)
@click.option(
    "--backends",
    default=options.default_text(_default("backends")),
    show_default=True,
    help="Comma-separated backends.",
)
@click.option(
    "--precisions",
    default=options.default_text(_default("precisions")),
    show_default=True,
    help="Comma-separated.",
)
@click.option(
    "--batch-sizes",
    type=options.BATCHES,
    default=options.default_text(_default("batch_sizes")),
    show_default=True,
    help="Comma-separated.",
)
@click.option(
    "--warmup",
    type=options.NON_NEGATIVE_INT,
    default=_default("warmup"),
    show_default=True,
    help="Untimed calls per case.",
)
@click.option(
    "--iters",
    type=options.POSITIVE_INT,
    default=_default("iters"),
    show_default=True,
    help="Timed calls per case and batch.",
)
@click.option(
    "--duration",
    type=options.DURATION,
    default=None,
    help="Seconds per case and batch (instead of --iters).",
)
@click.option(
    "--repeats",
    type=options.POSITIVE_INT,
    default=_default("repeats"),
    show_default=True,
    help="Interleaved rounds the timed calls are split into.",
)
@click.option(
    "--threads",
    type=options.THREADS,
    default=None,
    help="CPU threads (default: physical cores).",
)
@click.option(
    "--device",
    type=options.DEVICE,
    default=_default("device"),
    show_default=True,
    help="auto (CUDA when a GPU is visible, else CPU), cpu, cuda or cuda:N.",
)
@click.option("--accuracy/--no-accuracy", default=_default("accuracy"), show_default=True)
@click.option(
    "--limit-test",
    type=options.POSITIVE_INT,
    default=None,
    help="Use the first N test images only.",
)
@click.option("--torch-compile", is_flag=True, help="Also measure torch.compile (slow to compile).")
@click.option(
    "--ort-tensorrt",
    is_flag=True,
    help="Also run the ONNX files through ONNX Runtime's TensorRT execution provider (CUDA).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Output folder (default RUN/bench).",
)
@options.data_dir
@click.option(
    "--force",
    is_flag=True,
    help="Replace output files of these names that bench did not write (or that were edited).",
)
def bench(
    run: str,
    artifacts: tuple[str, ...],
    backends: str,
    precisions: str,
    batch_sizes: tuple[int, ...],
    warmup: int,
    iters: int,
    duration: float | None,
    repeats: int,
    threads: int | None,
    device: str,
    accuracy: bool,
    limit_test: int | None,
    torch_compile: bool,
    ort_tensorrt: bool,
    out: str | None,
    data_dir: str | None,
    force: bool = False,
) -> None:
    """Measure latency/throughput and accuracy of RUN's artifacts across backends."""
    from pathlib import Path

    from vggdeploy._io import ensure_writable_dir
    from vggdeploy.bench.progress import bench_with_progress
    from vggdeploy.bench.report import output_dir, rich_table, write_outputs

    cfg = BenchConfig(
        run=Path(run),
        backends=backends,  # type: ignore[arg-type]  # validated into lists
        precisions=precisions,  # type: ignore[arg-type]
        batch_sizes=list(batch_sizes),
        warmup=warmup,
        iters=iters,
        duration_s=duration,
        repeats=repeats,
        threads=threads,
        device=device,
        accuracy=accuracy,
        limit_test=limit_test,
        torch_compile=torch_compile,
        ort_tensorrt=ort_tensorrt,
        artifacts=[Path(a) for a in artifacts],
        data_dir=data_dir,
    )
    cfg.validate()  # bad numbers and names before anything is measured
    # measuring takes minutes: find out first whether the results can be written at all
    from vggdeploy.artifacts.written import check_replaceable
    from vggdeploy.bench.report import OUTPUT_FILES

    folder = ensure_writable_dir(output_dir(run, out), "bench output folder")
    check_replaceable(folder, OUTPUT_FILES, force=force, what="bench")  # the user's files stay
    results = bench_with_progress(cfg)
    paths = write_outputs(results, out, force=force)
    from rich.console import Console

    # Piped into a log (CI, `| tee`), rich would squeeze the table into 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    table, notes = rich_table(results, width=console.width)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))
