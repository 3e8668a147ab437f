"""`vggdeploy build-engine`: a TensorRT engine from ONNX, or an AOTInductor package from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vggdeploy.artifacts.onnx_meta import DEFAULT_VERIFIED_MAX_BATCH
from vggdeploy.backends.tensorrt.build import DEFAULT_OPT_BATCH
from vggdeploy.backends.tensorrt.sidecar import HARDWARE_COMPAT
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


_TRT = "vggdeploy.backends.tensorrt.build:build_engine"
_INDUCTOR = "vggdeploy.backends.inductor:build_inductor"


def _per_backend(name: str) -> str:
    """Both builds' defaults of ``name``, as the help texts quote them."""
    trt, inductor = (options.library_default(f, name) for f in (_TRT, _INDUCTOR))
    return (
        f"default tensorrt {options.default_text(trt)}, inductor {options.default_text(inductor)}"
    )


@options.library(
    _TRT,
    _INDUCTOR,
    renamed={"out": "out_path"},
    cli_only={"backend": "chooses which library build runs"},
)
@click.command("build-engine")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--fp16", "precision", flag_value="fp16", help="Build from model.fp16.onnx.")
@click.option("--int8", "precision", flag_value="int8", help="Build from model.int8.onnx (Q/DQ).")
@click.option(
    "--min-batch",
    type=options.BATCH,
    default=options.library_default(_TRT, "min_batch"),
    show_default=True,
)
@click.option(
    "--opt-batch",
    type=options.BATCH,
    default=None,
    help=f"Batch to tune for (default: {DEFAULT_OPT_BATCH} within min..max).",
)
@click.option(
    "--max-batch",
    type=options.BATCH,
    default=None,
    help="Largest batch (default: tensorrt, the largest the ONNX was verified at: export's "
    f"--max-batch, {DEFAULT_VERIFIED_MAX_BATCH} unless given; "
    f"inductor, {options.library_default(_INDUCTOR, 'max_batch')}).",
)
@click.option("--workspace", default=None, metavar="SIZE", help="Builder workspace, e.g. 2G, 512M.")
@click.option("--timing-cache", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--opt-level", type=click.IntRange(0, 5), default=None, help="TensorRT 0..5 [3].")
@click.option("--version-compatible", is_flag=True, help="Plan loadable by later TensorRT.")
@click.option(
    "--hardware-compat",
    type=click.Choice(list(HARDWARE_COMPAT)),
    default=options.library_default(_TRT, "hardware_compat"),
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
    default=None,
    help=f"tensorrt: cuda[:N]; inductor: cpu or cuda ({_per_backend('device')}).",
)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def build_engine(model: Path, backend: str, out: Path | None, **kw: Any) -> None:
    """Build a TensorRT engine (+ .engine.json sidecar) from MODEL (an exported .onnx), or with
    --backend inductor an AOTInductor .pt2 package from MODEL (a run folder)."""
    # The library takes the lock of the run folder it reads and probes the output folder.
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

    opts = _given(kw, "max_batch", "device")
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
        build_inductor(model, out, log=log, **opts)


def _build_tensorrt(model: Path, out: Path | None, kw: dict[str, Any]) -> None:
    from vggdeploy.backends.tensorrt import build_engine, build_summary, parse_size

    workspace = parse_size(kw["workspace"]) if kw["workspace"] else None
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
            allow_fallback=kw["allow_fallback"],
            **_given(kw, "max_batch", "device"),
        )
    for line in build_summary(sidecar):
        click.echo(line)


def _given(kw: dict[str, Any], *names: str) -> dict[str, Any]:
    """The options among ``names`` that were given: the others keep the library's default
    (which differs between the TensorRT and the AOTInductor build)."""
    return {k: kw[k] for k in names if kw[k] is not None}
