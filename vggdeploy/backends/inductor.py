"""AOTInductor backend: compile a checkpoint to ``NAME.pt2`` and run it (CPU or CUDA).

``torch.export`` with a dynamic batch dimension, then ``torch._inductor.aoti_compile_and_package``.
The ModelSpec and the build facts travel inside the package as AOTInductor metadata
(``aot_inductor.metadata``), readable at run time through ``get_metadata()`` and, without loading
the shared library, from the archive's ``*_metadata.json`` - so a .pt2 needs no sidecar. The same
package is what the C++ runner loads with ``AOTIModelPackageLoader``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy import _args
from vggdeploy._io import Log, ensure_writable_dir, reporter, sha256_bytes, sha256_file, write_bytes
from vggdeploy._version import __version__
from vggdeploy.artifacts.onnx_meta import ONNX_METADATA_KEY
from vggdeploy.backends.base import Runner, parse_device
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.errors import ArtifactError, BackendUnavailableError, UsageError
from vggdeploy.runlock import holds_source_lock
from vggdeploy.spec import ModelSpec, check_graph_shapes

SPEC_KEY = ONNX_METADATA_KEY  # the same key as in an ONNX model's metadata_props
PACKAGE_KEY = "vggdeploy.package"  # build facts (JSON) next to the ModelSpec
PACKAGE_FORMAT = "vggdeploy.aoti-package"
PACKAGE_VERSION = 1
#: largest batch a package accepts unless --max-batch says otherwise (a dynamic dimension is cheap)
DEFAULT_PACKAGE_MAX_BATCH: int = BACKENDS["inductor"].default_max_batch or 1024


def default_package_path(checkpoint: str | os.PathLike[str], device: str = "cpu") -> Path:
    """engines/RUN.<cpu|cuda>.pt2, RUN being the run folder (or the folder of its model.json)."""
    p = Path(checkpoint)
    run = p if p.is_dir() else p.parent
    return Path("engines") / f"{run.resolve().name}.{parse_device(device).type}.pt2"


def _torch_device(device: str) -> Any:
    import torch

    dev = torch.device(str(parse_device(device)))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(
            "--device cuda was asked for, but no CUDA GPU is visible to PyTorch"
            + (" (this is a CPU-only PyTorch build)" if torch.version.cuda is None else ""),
            hint="build for --device cpu here, or run on a machine with a GPU and CUDA PyTorch",
        )
    return dev


@holds_source_lock("build-engine")  # the run folder it reads: no export rewrites it meanwhile
def build_inductor(
    checkpoint: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    max_batch: int = DEFAULT_PACKAGE_MAX_BATCH,
    log: Log | None = None,
) -> Path:
    """Compile the checkpoint (run folder) into the AOTInductor package ``out_path`` (.pt2;
    default :func:`default_package_path`)."""
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint, resolve_checkpoint

    _args.path("checkpoint", checkpoint)
    _args.optional_path("out", out_path)
    _args.integer("--max-batch", max_batch)
    parse_device(device)  # a UsageError naming the device before any path is derived from it
    out = Path(out_path) if out_path is not None else default_package_path(checkpoint, device)
    if out.suffix.lower() not in BACKENDS["inductor"].suffixes:
        raise UsageError(f"output '{out}' must end in .pt2 (AOTInductor's package format)")
    if max_batch < 1:
        raise UsageError(f"--max-batch must be >= 1, got {max_batch}")
    dev = _torch_device(device)
    ensure_writable_dir(out.parent, "package folder")  # before the compile (many seconds)
    model, spec = load_checkpoint(checkpoint)
    _, weights = resolve_checkpoint(checkpoint)
    model = model.to(dev).eval()

    # Example batch of 2 (not 1): a size-1 example would let export specialise the dimension.
    example = torch.randn(min(2, max_batch), *spec.input.shape(1)[1:], device=dev)
    dims = (
        {0: torch.export.Dim("batch", min=1, max=max_batch)} if max_batch > 1 else None
    )  # a Dim with min == max is not dynamic; export a static batch of 1 then
    if dims is None:
        example = example[:1]
    say = reporter(log)
    start = time.perf_counter()
    say(f"exporting the model with torch.export (batch 1..{max_batch})")
    with torch.no_grad(), _quiet_library_warnings():
        program = torch.export.export(model, (example,), dynamic_shapes=(dims,) if dims else None)
    facts = {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "device": dev.type,
        "batch": {"min": 1, "max": max_batch},
        "input": spec.input.name,
        "output": spec.output_name,
        "checkpoint_weights_sha256": sha256_file(weights),
        "torch": torch.__version__,
        "vggdeploy": __version__,
    }
    metadata = {SPEC_KEY: spec.to_json(), PACKAGE_KEY: json.dumps(facts)}
    buffer = io.BytesIO()  # compile to memory, then one atomic write: never a half-written .pt2
    say(f"compiling with AOTInductor for {dev.type} (this takes a while)")
    with _quiet_library_warnings():
        torch._inductor.aoti_compile_and_package(
            program,
            package_path=buffer,
            inductor_configs={"aot_inductor.metadata": metadata},
        )
    seconds = time.perf_counter() - start
    blob = buffer.getvalue()
    write_bytes(out, blob)
    from vggdeploy.artifacts.written import record_written

    record_written(out.parent, out, "build-engine")  # native code vggdeploy built (README)
    if log is not None:
        log(
            f"AOTInductor ({dev.type}) package {out}: {len(blob) / 1e6:.1f} MB, "
            f"batch 1..{max_batch}, built in {seconds:.1f} s, sha256 {sha256_bytes(blob)[:16]}..."
        )
    return out


@contextlib.contextmanager
def _quiet_library_warnings() -> Iterator[None]:
    """Hide PyTorch's own deprecation noise that export/compile emit from inside the library
    (nothing the user can act on); every other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
        )
        warnings.filterwarnings(
            "ignore",
            message=r".*torch\.jit\.script_method.* is deprecated",
            category=DeprecationWarning,
        )
        yield


def _read_archive_metadata(path: Path) -> dict[str, str]:
    """AOTInductor metadata from the .pt2 archive without loading the compiled library."""
    try:
        found: dict[str, str] = {}
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("_metadata.json"):
                    data = json.loads(archive.read(name))
                    if isinstance(data, dict):
                        found = found or {str(k): str(v) for k, v in data.items()}
                        if SPEC_KEY in data:
                            return {str(k): str(v) for k, v in data.items()}
        return found
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"'{path}' is not a readable AOTInductor package ({exc})",
            hint="the file is corrupt or truncated; rebuild it with "
            "`vggdeploy build-engine RUN --backend inductor -o PATH.pt2`",
        ) from exc


def _package_metadata(path: Path) -> dict[str, str]:
    """The package's AOTInductor metadata, read from the archive's ``*_metadata.json`` only: a
    .pt2 holds native code, and describing it (inspect, bench's plan, freshness) must never run
    that code (README "Security"). A package whose metadata is not readable that way is refused,
    not loaded to find out."""
    metadata = _read_archive_metadata(path)
    if metadata:
        return metadata
    raise ArtifactError(
        f"'{path}' has no readable AOTInductor metadata in its archive (no *_metadata.json); "
        "vggdeploy does not load a package's native code to find out what it is",
        hint="rebuild it with `vggdeploy build-engine RUN --backend inductor -o PATH.pt2`",
    )


def _spec_and_facts(metadata: dict[str, str], path: Path) -> tuple[ModelSpec, dict[str, Any]]:
    if SPEC_KEY not in metadata:
        raise ArtifactError(
            f"'{path}' carries no vggdeploy ModelSpec (not built by `vggdeploy build-engine`)",
            hint="rebuild it with `vggdeploy build-engine RUN --backend inductor -o PATH.pt2`",
        )
    spec = ModelSpec.from_json(metadata[SPEC_KEY], source=f"{path} metadata")
    try:
        facts = json.loads(metadata.get(PACKAGE_KEY, "{}"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"'{path}': corrupt '{PACKAGE_KEY}' metadata ({exc})") from exc
    return spec, facts


def package_provenance(path: str | os.PathLike[str], run: Path) -> Any:
    """What the package records about its origin (registry ``provenance`` hook): the sha256 of
    the weights it was compiled from."""
    import shlex

    from vggdeploy.artifacts.provenance import Recorded

    p = Path(path)
    spec, facts = _spec_and_facts(_package_metadata(p), p)
    device = facts.get("device", "cpu")
    cmd = ["vggdeploy", "build-engine", str(run), "--backend", "inductor", "--device", str(device)]
    return Recorded(
        checkpoint_sha256=facts.get("checkpoint_weights_sha256"),
        action=f"rebuild the package: {shlex.join([*cmd, '-o', str(p)])}",
        spec=spec,
    )


def package_identity(path: str | os.PathLike[str]) -> Any:
    """What the package is (registry ``identity`` hook), from its archive metadata: the
    precision it records (packages are compiled from the FP32 checkpoint: fp32 when it records
    none); the file stem is only its label (it is not evidence of anything)."""
    from vggdeploy.artifacts.identity import Identity

    p = Path(path)
    _, facts = _spec_and_facts(_package_metadata(p), p)
    precision = str(facts.get("precision", "fp32"))
    return Identity(precision, p.stem)


def inspect_package(path: str | os.PathLike[str]) -> dict[str, Any]:
    """ModelSpec, build facts and AOTInductor's own platform keys of a .pt2."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"AOTInductor package not found: '{p}'")
    metadata = _package_metadata(p)
    spec, facts = _spec_and_facts(metadata, p)
    return {
        "package": str(p),
        "size": p.stat().st_size,
        "sha256": sha256_file(p),
        "build": facts,
        "aoti": {k: v for k, v in metadata.items() if k.startswith("AOTI_")},
        "model_spec": json.loads(spec.to_json()),
    }


def package_lines(info: dict[str, Any]) -> list[str] | None:
    """`vggdeploy inspect` text for :func:`inspect_package`'s description."""
    if not {"model_spec", "build", "aoti"} <= set(info):
        return None
    spec, build = info["model_spec"], info["build"]
    batch = build.get("batch", {})
    return [
        f"AOTInductor package  {info['package']}  ({info['size'] / 1e6:.2f} MB)",
        f"sha256               {info['sha256']}",
        f"model                {spec['preset']} ({spec['num_classes']} classes)",
        f"device               {build.get('device', '?')}",
        f"batch                {batch.get('min')}..{batch.get('max')}",
        f"built by             torch {build.get('torch', '?')}, vggdeploy {build.get('vggdeploy')}",
        *(f"{k:<20} {v}" for k, v in info["aoti"].items()),
    ]


class InductorRunner(Runner):
    """Runs a vggdeploy .pt2 package."""

    kind = "inductor"
    OPTIONS = {
        "device": "cpu or cuda[:N] (default: the device the package was compiled for)",
        "threads": "CPU threads for PyTorch/OpenMP (default: PyTorch's)",
    }

    def _activate(self) -> ModelSpec:
        import torch

        if not self.source.is_file():
            raise ArtifactError(
                f"AOTInductor package not found: '{self.source}'",
                hint="build it with `vggdeploy build-engine RUN --backend inductor -o PATH.pt2`",
            )
        spec, facts = _spec_and_facts(_package_metadata(self.source), self.source)
        built_for = str(facts.get("device", "cpu"))
        dev = _torch_device(str(self.options.get("device", built_for)))
        if dev.type != built_for:
            raise UsageError(
                f"'{self.source}' was compiled for {built_for}; it cannot run on {dev.type}",
                hint=f"rebuild with --device {dev.type}, or run it on {built_for}",
            )
        if self.options.get("threads"):
            torch.set_num_threads(int(self.options["threads"]))
        try:
            self._model = torch._inductor.aoti_load_package(
                str(self.source), device_index=dev.index if dev.index is not None else -1
            )
        except Exception as exc:  # the loader raises RuntimeError with the C++ reason
            raise ArtifactError(
                f"cannot load AOTInductor package '{self.source}': {exc}",
                hint="it was built by another PyTorch version or for another platform; rebuild "
                "it with `vggdeploy build-engine RUN --backend inductor` on this machine",
            ) from exc
        self._torch = torch
        self._device = dev
        batch = facts.get("batch", {})
        self._bounds = (int(batch.get("min", 1)), int(batch.get("max", 1)))
        self._probe(spec)
        return spec

    def _probe(self, spec: ModelSpec) -> None:
        """One forward pass of zeros at the smallest batch: the compiled graph must take the
        ModelSpec's input and return its classes (a package's graph has no readable shapes)."""
        n = max(1, self._bounds[0])
        x = np.zeros(spec.input.shape(n), np.float32)
        try:
            out = self._infer(x)
        except Exception as exc:  # the compiled model checks its input shapes
            raise ArtifactError(
                f"'{self.source}' contradicts its own ModelSpec: the compiled graph refuses an "
                f"input of shape {x.shape} ({type(exc).__name__})",
                hint="the file was modified or mixes two models; make it again from the "
                "checkpoint with `vggdeploy build-engine RUN --backend inductor`",
            ) from exc
        check_graph_shapes(spec, self.source, x.shape, out.shape)

    def _deactivate(self) -> None:
        self._model = None

    def batch_bounds(self) -> tuple[int, int | None]:
        return self._bounds

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(batch).to(self._device)
        with torch.inference_mode():
            out = self._model(x)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out.float().cpu().numpy()
