"""The backend registry: one entry per backend, the one description of it.

Each :class:`BackendInfo` says which runner class runs the backend, which files are its artifacts
(suffixes, where a run folder keeps them), whether one runner may be called from several threads,
how ``vggdeploy inspect`` describes a file, what makes its artifacts and what it needs to run.
The Predictor (:func:`backend_for_path`), bench (discovery, skip rules), inspect (``describe``)
and the Triton repository writer ask this table; none of them keeps its own.

Everything here is plain data: code is named as ``"module:attribute"`` and imported only when used,
so ``vggdeploy --help`` imports no runtime. Adding a backend = one entry here + its module
(see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vggdeploy.artifacts.run_folder import report_path_for
from vggdeploy.artifacts.variants import ONNX_VARIANTS


@dataclass(frozen=True)
class BackendInfo:
    """Everything vggdeploy knows about one backend."""

    name: str
    runner: str  # "module:Class" of its Runner subclass
    suffixes: tuple[str, ...]  # artifact file suffixes (lower case), the first is the usual one
    thread_safe: bool  # default of Runner.thread_safe: may one runner serve several threads?
    how_to_make: str  # what writes its artifacts (said when one is missing)
    artifact_text: str = ""  # how messages name its artifacts (default: its suffixes)
    opens_folders: bool = False  # a run folder (checkpoint) is this backend's artifact
    companion: str | None = None  # NAME<suffix><companion> (a sidecar) opens NAME<suffix>
    weights_suffix: str | None = None  # NAME<weights_suffix> beside NAME<suffix> holds the weights
    run_files: tuple[str, ...] = ()  # fixed file names in a run folder, in report order
    run_globs: tuple[str, ...] = ()  # patterns of freely named artifacts in a run folder
    describe: str | None = None  # "module:function": path -> dict, for `vggdeploy inspect`
    render: str | None = None  # "module:function": that dict -> text lines (None: generic)
    precision_of: str | None = None  # "module:function": path -> precision it records, or None
    identity: str | None = None  # "module:function": path -> artifacts.identity.Identity
    native_code: bool = False  # its artifacts hold code that runs when loaded (README "Security")
    provenance: str | None = None  # "module:function": (path, run) -> provenance.Recorded
    needs_cuda: str | None = None  # why it cannot run on a CPU-only machine (bench skip reason)
    default_max_batch: int | None = None  # largest batch its build targets unless told otherwise
    # (None: what the source artifact records)
    larger_batch: str | None = None  # how to make an artifact that takes larger batches
    # precisions its build step makes (freely named artifacts): bench reports a skipped row for
    # each one asked for that the run folder lacks, instead of leaving it out without a word
    builds: tuple[str, ...] = ()

    def batch_hint(self) -> str:
        """The hint for a batch above an artifact's maximum, naming this backend's artifact."""
        remake = f", or {self.larger_batch}" if self.larger_batch else ""
        return f"split the batch{remake}"

    @property
    def label(self) -> str:
        return self.artifact_text or "/".join(self.suffixes)

    def runner_class(self) -> type:
        return _attr(self.runner)

    def discover(self, run: Path | None) -> list[Path]:
        """This backend's artifacts present in the run folder ``run`` (report order)."""
        if run is None or not run.is_dir():
            return []
        fixed = [run / name for name in self.run_files if (run / name).is_file()]
        free = sorted({p for pattern in self.run_globs for p in run.glob(pattern)})
        return fixed + free

    def files_of(self, path: Path) -> list[Path]:
        """The files that make the artifact ``path`` of this backend, as they exist: the file
        itself, its companion (an engine's sidecar) and its weights file (an IR's NAME.bin)."""
        files = [path]
        if self.companion:
            files.append(path.with_name(path.name + self.companion))
        if self.weights_suffix:
            files.append(path.with_suffix(self.weights_suffix))
        return [f for f in files if f.is_file()]

    def artifact_dirs(self) -> tuple[str, ...]:
        """The sub-folders of a run folder its ``run_globs`` name (``engines``, ``openvino``)."""
        return tuple(dict.fromkeys(str(Path(g).parent) for g in self.run_globs if "/" in g))

    def describe_file(self, path: Path) -> dict[str, Any] | None:
        """What ``vggdeploy inspect`` shows for ``path``; None when the backend has no describer."""
        return dict(_attr(self.describe)(path)) if self.describe else None

    def render_lines(self, info: dict[str, Any]) -> list[str] | None:
        """The backend's text for a description (None: print it generically)."""
        return _attr(self.render)(info) if self.render else None

    def recorded_precision(self, path: Path) -> str | None:
        """The precision the artifact records about itself (e.g. an engine's sidecar)."""
        return _attr(self.precision_of)(path) if self.precision_of else None

    def content_identity(self, path: Path) -> Any:
        """What the artifact is by its content (an ``artifacts.identity.Identity``): the
        backend's ``identity`` hook, else the precision it records (``precision_of``) with its
        file stem as the label; ArtifactError when it records neither."""
        if self.identity:
            return _attr(self.identity)(path)
        from vggdeploy.artifacts.identity import Identity
        from vggdeploy.errors import ArtifactError

        precision = self.recorded_precision(path)
        if precision is None:
            raise ArtifactError(
                f"'{path}' records no precision (no readable {self.name} metadata)",
                hint=self.how_to_make,
            )
        return Identity(str(precision), path.stem)

    def recorded_provenance(self, path: Path, run: Path) -> Any:
        """What the artifact records about its source (a ``provenance.Recorded``), or None when
        this backend records nothing; ``run`` is the run folder it is judged in."""
        return _attr(self.provenance)(path, run) if self.provenance else None


def _attr(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


_TRT_REBUILD = "vggdeploy build-engine RUN"

BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            name="torch",
            runner="vggdeploy.backends.torch:TorchRunner",
            suffixes=(".safetensors", ".json"),
            # Eager forward under inference_mode reads parameters only and autograd state is
            # thread-local: safe on CPU and CUDA. A torch.compile'd runner sets False itself
            # (it may recompile and guard-check concurrently).
            thread_safe=True,
            how_to_make="written by `vggdeploy train`",
            artifact_text="a run folder / model.json / model.safetensors",
            opens_folders=True,
            provenance="vggdeploy.artifacts.provenance:checkpoint_provenance",
        ),
        BackendInfo(
            name="onnxruntime",
            runner="vggdeploy.backends.onnxruntime:OnnxRuntimeRunner",
            suffixes=(".onnx",),
            thread_safe=True,  # InferenceSession.run() is documented as thread-safe
            how_to_make="written by `vggdeploy export RUN` and its precision step",
            run_files=tuple(v.filename for v in ONNX_VARIANTS),
            describe="vggdeploy.backends.inspection:describe_onnx",
            identity="vggdeploy.artifacts.identity:onnx_identity",
            provenance="vggdeploy.artifacts.provenance:onnx_provenance",
            larger_batch="export the ONNX file again with `vggdeploy export RUN` (dynamic batch)",
        ),
        BackendInfo(
            name="tensorrt",
            builds=("fp32", "fp16", "int8"),
            runner="vggdeploy.backends.tensorrt.runner:TensorRTRunner",
            suffixes=(".engine", ".plan"),
            # One IExecutionContext holds the bound shapes and device buffers of one call at a
            # time; concurrent calls would overwrite each other's bindings -> lock.
            thread_safe=False,
            native_code=True,  # a version-compatible plan embeds TensorRT's lean runtime
            how_to_make=f"build one with `{_TRT_REBUILD}` on a machine with TensorRT",
            companion=".json",
            run_globs=("*.engine", "engines/*.engine"),
            describe="vggdeploy.backends.tensorrt.describe:inspect_engine",
            render="vggdeploy.backends.tensorrt.describe:engine_lines",
            precision_of="vggdeploy.backends.tensorrt.describe:engine_precision",
            provenance="vggdeploy.backends.tensorrt.describe:engine_provenance",
            needs_cuda="TensorRT needs a CUDA GPU (use --device cuda)",
            # no default of its own: an engine's profile ends where its ONNX was verified
            # (artifacts/onnx_meta.py:verified_max_batch)
            larger_batch="rebuild the engine with a larger --max-batch "
            "(`vggdeploy build-engine MODEL.onnx --max-batch N`)",
        ),
        BackendInfo(
            name="inductor",
            builds=("fp32",),
            runner="vggdeploy.backends.inductor:InductorRunner",
            suffixes=(".pt2",),
            # The AOTInductor package loader runs a fixed pool of model instances (one by
            # default); we lock rather than rely on its internal queueing.
            thread_safe=False,
            native_code=True,  # a shared library, loaded with dlopen
            how_to_make="package one with `vggdeploy build-engine RUN --backend inductor`",
            run_globs=("*.pt2", "engines/*.pt2"),
            describe="vggdeploy.backends.inductor:inspect_package",
            render="vggdeploy.backends.inductor:package_lines",
            identity="vggdeploy.backends.inductor:package_identity",
            provenance="vggdeploy.backends.inductor:package_provenance",
            default_max_batch=1024,
            larger_batch="rebuild the .pt2 package with a larger --max-batch "
            "(`vggdeploy build-engine RUN --backend inductor --max-batch N`)",
        ),
        BackendInfo(
            name="openvino",
            builds=("fp32", "bf16", "int8"),
            runner="vggdeploy.backends.openvino:OpenVINORunner",
            suffixes=(".xml",),  # + NAME.bin beside it (the weights); the XML is the artifact
            # A compiled model is shared and thread-safe; infer requests are not, so the runner
            # keeps one set of requests per calling thread.
            thread_safe=True,
            how_to_make="build one with `vggdeploy build-engine RUN --backend openvino "
            "[--bf16|--int8]`",
            artifact_text=".xml + .bin (OpenVINO IR)",
            weights_suffix=".bin",
            run_globs=("*.xml", "openvino/*.xml"),
            describe="vggdeploy.backends.openvino:describe_ir",
            render="vggdeploy.backends.openvino:ir_lines",
            precision_of="vggdeploy.backends.openvino:ir_precision",
            provenance="vggdeploy.backends.openvino:ir_provenance",
            larger_batch=None,  # converted with ONNX's dynamic batch: no maximum
        ),
    )
}


def backend_info(name: str) -> BackendInfo:
    """The entry of backend ``name``; UsageError naming the valid ones for anything else."""
    if name not in BACKENDS:
        from vggdeploy.errors import UsageError

        raise UsageError(f"unknown backend '{name}'", hint=f"valid backends: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def backend_for_path(path: str | os.PathLike[str]) -> tuple[BackendInfo, Path] | None:
    """(backend, file to open) for an artifact path, from what it is; None if no backend owns it.

    A folder is a run (checkpoint); a sidecar such as ``NAME.engine.json`` opens ``NAME.engine``;
    otherwise the suffix decides. The path need not exist (callers report missing files).
    """
    p = Path(path)
    entries = list(BACKENDS.values())
    if p.is_dir():
        return next(((b, p) for b in entries if b.opens_folders), None)
    name = p.name.lower()
    for b in entries:
        if b.companion and any(name.endswith(s + b.companion) for s in b.suffixes):
            return b, p.with_name(p.name[: -len(b.companion)])
    for b in entries:
        if any(name.endswith(s) for s in b.suffixes):
            return b, p
    return None


def run_artifacts(run: Path) -> list[Path]:
    """Every artifact of every backend in the run folder ``run`` (what ``discover`` finds), each
    with the files that belong to it (``files_of``: sidecar, weights) and the export stage's
    report (``NAME.report.json``); sorted. The checkpoint itself is not among them."""
    found: set[Path] = set()
    for b in BACKENDS.values():
        for p in b.discover(run):
            found.update(b.files_of(p))
            if report_path_for(p).is_file():
                found.add(report_path_for(p))
    return sorted(found)


def supported_artifacts() -> str:
    """'a run folder / model.json / model.safetensors (torch); .onnx (onnxruntime); ...'."""
    return "; ".join(f"{b.label} ({b.name})" for b in BACKENDS.values())


def thread_safe_default(kind: str) -> bool:
    """The registry's thread safety of ``kind``; unknown kinds are served locked."""
    info = BACKENDS.get(kind)
    return info.thread_safe if info is not None else False


__all__ = [
    "BACKENDS",
    "BackendInfo",
    "backend_for_path",
    "backend_info",
    "run_artifacts",
    "supported_artifacts",
    "thread_safe_default",
]
