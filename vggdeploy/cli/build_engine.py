"""`vggdeploy build-engine`: a TensorRT engine from ONNX, or an AOTInductor package from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vggdeploy.artifacts.onnx_meta import DEFAULT_VERIFIED_MAX_BATCH
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.cli import options
from vggdeploy.errors import UsageError

_TRT_ONLY = ("precision", "workspace", "timing_cache", "opt_level", "version_compatible")
_TRT_ONLY += ("allow_fallback",)


class _PhaseBars:
    """Renders TensorRT's IProgressMonitor phases as rich progress bars (thread-safe)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.depth: dict[str, int] = {}

    def __call__(self, event: Any) -> None:
        if event.kind == "start":
            depth = self.depth.get(event.parent, -1) + 1 if event.parent else 0
            self.depth[event.phase] = depth
            self.tasks[event.phase] = self.progress.add_task(
                "  " * depth + event.phase, total=max(event.total, 1)
            )
        elif event.phase in self.tasks:
            task = self.tasks[event.phase]
            self.progress.update(task, completed=event.done)
            if event.kind == "finish":
                self.progress.remove_task(task)
                del self.tasks[event.phase]
                self.depth.pop(event.phase, None)


@click.command("build-engine")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--fp16", "precision", flag_value="fp16", help="Build from model.fp16.onnx.")
@click.option("--int8", "precision", flag_value="int8", help="Build from model.int8.onnx (Q/DQ).")
@click.option("--min-batch", type=options.BATCH, default=1, show_default=True)
@click.option(
    "--opt-batch", type=options.BATCH, default=None, help="Batch to tune for [32 within min..max]."
)
@click.option(
    "--max-batch",
    type=options.BATCH,
    default=None,
    help="Largest batch [tensorrt: the largest the ONNX was verified at (export --max-batch, "
    f"default {DEFAULT_VERIFIED_MAX_BATCH}); inductor: {BACKENDS['inductor'].default_max_batch}].",
)
@click.option(
    "--workspace",
    type=options.SIZE,
    default=None,
    metavar="SIZE",
    help="Builder workspace, e.g. 2G, 512M.",
)
@click.option("--timing-cache", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--opt-level", type=options.Number(int, min=0, max=5), default=None, help="TensorRT 0..5 [3]."
)
@click.option("--version-compatible", is_flag=True, help="Plan loadable by later TensorRT.")
@click.option(
    "--hardware-compat",
    type=click.Choice(["none", "ampere+", "same-cc"]),
    default="none",
    show_default=True,
    help="Plan portable to other GPUs: every Ampere+ GPU, or any GPU of the same compute cap.",
)
@click.option(
    "--allow-fallback",
    is_flag=True,
    help="Keep an engine whose compute layers TensorRT ran in another precision (recorded).",
)
@click.option(
    "--backend", type=click.Choice(["tensorrt", "inductor"]), default="tensorrt", show_default=True
)
@click.option(
    "--device",
    type=options.DEVICE,
    default=None,
    help="inductor: cpu (default) or cuda; tensorrt: cuda:N.",
)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def build_engine(model: Path, backend: str, out: Path | None, **kw: Any) -> None:
    """Build a TensorRT engine (+ .engine.json sidecar) from MODEL (an exported .onnx), or with
    --backend inductor an AOTInductor .pt2 package from MODEL (a run folder)."""
    import contextlib

    from vggdeploy.runlock import run_lock

    # The run folder the build reads (model.onnx, the checkpoint) has one writer at a time: an
    # export rewriting model.onnx mid-build is refused, and so is this build during an export.
    source_run = model if model.is_dir() else model.parent
    with run_lock(source_run, "build-engine") if source_run.is_dir() else contextlib.nullcontext():
        if backend == "inductor":
            _build_inductor(model, out, kw)
        else:
            _build_tensorrt(model, out, kw)


def _build_inductor(model: Path, out: Path | None, kw: dict[str, Any]) -> None:
    from vggdeploy.backends.inductor import build_inductor

    given = [k for k in _TRT_ONLY if kw.get(k)] + (
        ["hardware_compat"] if kw["hardware_compat"] != "none" else []
    )
    if given:
        names = ", ".join(
            "--fp16/--int8" if k == "precision" else "--" + k.replace("_", "-") for k in given
        )
        raise UsageError(f"{names} only apply to --backend tensorrt")
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    opts = {"max_batch": kw["max_batch"]} if kw["max_batch"] is not None else {}
    console = Console(stderr=True)
    spinner = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = spinner.add_task("AOTInductor build", total=None)

    def log(message: str) -> None:  # each stage: the spinner's text and a line in the log
        spinner.update(task, description=message)
        click.echo(message)

    with spinner:
        build_inductor(model, out, device=kw["device"] or "cpu", log=log, **opts)


def _build_tensorrt(model: Path, out: Path | None, kw: dict[str, Any]) -> None:
    from vggdeploy._io import ensure_writable_dir
    from vggdeploy.backends.tensorrt import build_engine, build_summary
    from vggdeploy.backends.tensorrt.build import default_engine_path

    opts = {"max_batch": kw["max_batch"]} if kw["max_batch"] is not None else {}
    workspace = kw["workspace"]  # bytes (options.SIZE)
    target = out if out is not None else default_engine_path(model, kw["precision"] or "fp32")
    ensure_writable_dir(target.parent, "engine folder")  # before a build of minutes
    bars = _PhaseBars()
    with bars.progress:
        sidecar = build_engine(
            model,
            out,
            precision=kw["precision"],
            min_batch=kw["min_batch"],
            opt_batch=kw["opt_batch"],
            workspace=workspace,
            timing_cache=kw["timing_cache"],
            opt_level=kw["opt_level"],
            version_compatible=kw["version_compatible"],
            hardware_compat=kw["hardware_compat"],
            progress=bars,
            device=kw["device"] or "cuda:0",
            allow_fallback=kw["allow_fallback"],
            **opts,
        )
    for line in build_summary(sidecar):
        click.echo(line)
