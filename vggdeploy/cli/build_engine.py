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
from vggdeploy.export.quantize import DEFAULT_CALIB_SIZE

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
_OPENVINO = "vggdeploy.export.openvino:build_openvino"


def _per_backend(name: str) -> str:
    """Both builds' defaults of ``name``, as the help texts quote them."""
    trt, inductor = (options.library_default(f, name) for f in (_TRT, _INDUCTOR))
    return (
        f"default tensorrt {options.default_text(trt)}, inductor {options.default_text(inductor)}"
    )


@options.library(
    _TRT,
    _INDUCTOR,
    _OPENVINO,
    renamed={"out": "out_path"},
    cli_only={
        "backend": "chooses which library build runs",
        "no_verify": "the inverse of build_openvino(verify=True)",
    },
)
@click.command("build-engine")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--fp16", "precision", flag_value="fp16", help="Build from model.fp16.onnx.")
@click.option("--int8", "precision", flag_value="int8", help="Build from model.int8.onnx (Q/DQ).")
@click.option(
    "--bf16", "precision", flag_value="bf16", help="openvino: BF16 IR (CPUs with AMX/AVX512_BF16)."
)
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
    "--int8-source",
    type=click.Choice(["nncf", "qdq"]),
    default=None,
    help="openvino --int8: NNCF on model.onnx (calibrated on the train split), or the export "
    "stage's model.int8.onnx (qdq) (default: "
    f"{options.library_default(_OPENVINO, 'int8_source')}).",
)
@click.option(
    "--calib-size",
    type=options.POSITIVE_INT,
    default=None,
    help=f"openvino --int8 (default: the export stage's, {DEFAULT_CALIB_SIZE}).",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="openvino: data.")
@click.option("--no-verify", is_flag=True, help="openvino: write the IR without judging it.")
@click.option(
    "--backend",
    type=click.Choice(["tensorrt", "inductor", "openvino"]),
    default="tensorrt",
    show_default=True,
)
@click.option(
    "--device",
    type=options.DEVICE,
    default=None,
    help=f"tensorrt: cuda[:N]; inductor: cpu or cuda ({_per_backend('device')}).",
)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def build_engine(model: Path, backend: str, out: Path | None, **kw: Any) -> None:
    """Build a TensorRT engine (+ .engine.json sidecar) from MODEL (an exported .onnx), with
    --backend inductor an AOTInductor .pt2 package from MODEL (a run folder), or with --backend
    openvino an OpenVINO IR (.xml + .bin) from MODEL's model.onnx (fp32, --bf16, --int8)."""
    # The library takes the lock of the run folder it reads and probes the output folder.
    if backend == "inductor":
        _build_inductor(model, out, kw)
    elif backend == "openvino":
        _build_openvino(model, out, kw)
    else:
        _build_tensorrt(model, out, kw)


_OPENVINO_ONLY = ("int8_source", "calib_size", "data_dir", "no_verify")


def _refuse_options(kw: dict[str, Any], names: tuple[str, ...], backend: str) -> None:
    given = [k for k in names if kw.get(k)]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{flags} only apply to --backend {backend}")


def _build_openvino(model: Path, out: Path | None, kw: dict[str, Any]) -> None:
    from vggdeploy.export.openvino import build_openvino

    _refuse_options(kw, tuple(k for k in _TRT_ONLY if k != "precision"), "tensorrt")
    _refuse_options(kw, ("opt_batch", "max_batch"), "tensorrt/inductor")
    if kw["min_batch"] != 1:
        raise UsageError("--min-batch only applies to --backend tensorrt")
    if kw["hardware_compat"] != "none":
        raise UsageError("--hardware-compat only applies to --backend tensorrt")
    if kw["precision"] == "fp16":
        raise UsageError("--fp16 is not an openvino precision", hint="use --bf16, --int8 or none")
    if kw["device"] not in (None, "cpu"):
        raise UsageError(f"--backend openvino builds for the CPU, got --device {kw['device']}")
    build_openvino(
        model,
        out,
        precision=kw["precision"] or "fp32",
        int8_source=kw["int8_source"] or "nncf",
        calib_size=kw["calib_size"],
        data_dir=kw["data_dir"],
        verify=not kw["no_verify"],
        log=click.echo,
    )


def _build_inductor(model: Path, out: Path | None, kw: dict[str, Any]) -> None:
    from vggdeploy.backends.inductor import build_inductor

    _refuse_options(kw, _OPENVINO_ONLY, "openvino")
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
    from vggdeploy.backends.tensorrt import build_engine, build_summary

    _refuse_options(kw, _OPENVINO_ONLY, "openvino")
    if kw["precision"] == "bf16":
        raise UsageError("--bf16 only applies to --backend openvino")
    workspace = kw["workspace"]  # bytes (options.SIZE)
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
