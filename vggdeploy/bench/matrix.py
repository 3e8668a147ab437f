"""Which (backend, precision, variant) cases a bench run measures, and with which artifact.

Where each backend's artifacts live in a run folder, what makes them and what a backend needs to
run are facts of the backend registry (``vggdeploy.backends.registry``); this module turns them
into table rows:

==============  =========  ============  ============================================
backend         precision  variant       artifact
==============  =========  ============  ============================================
torch           fp32/bf16  eager         RUN (checkpoint); fp16 only on CUDA; ``compile``
                                         variant with ``torch_compile=True``
onnxruntime     from name  -/tensorrt/   the registry's ``run_files`` (the ONNX variants of
                           cpu           artifacts/variants.py; the variant column is an
                                         INT8 form's target), a skipped row for each
                                         missing one
onnxruntime     any        +trt-ep       the same files through ORT's TensorRT EP
                                         (``ort_tensorrt=True``, CUDA only)
tensorrt        recorded   stem          the registry's ``run_globs``; precision as the
                or name                  engine records it (its sidecar), else the name
inductor        from name  stem          the registry's ``run_globs`` (.pt2 packages)
==============  =========  ============  ============================================

Explicit files (``artifacts=``) replace discovery for their backend (by suffix).
A case that cannot run here carries ``skip`` (the reason) and is reported as a skipped row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vggdeploy import _args
from vggdeploy.artifacts.checkpoint import WEIGHTS_NAME
from vggdeploy.artifacts.variants import ONNX_VARIANTS, PRECISIONS
from vggdeploy.backends.registry import BACKENDS, BackendInfo, backend_for_path
from vggdeploy.errors import UsageError


@dataclass
class Case:
    backend: str
    precision: str
    variant: str
    artifact: Path | None
    options: dict[str, Any] = field(default_factory=dict)
    skip: str | None = None
    stale: str | None = None  # why the artifact is not made from the run's checkpoint

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.precision}/{self.variant}"

    @property
    def is_reference(self) -> bool:
        return (self.backend, self.precision, self.variant) == ("torch", "fp32", "eager")

    def artifact_mb(self) -> float | None:
        """Size of what is deployed: the weights file for torch, the artifact otherwise."""
        if self.artifact is None:
            return None
        path = self.artifact / WEIGHTS_NAME if self.artifact.is_dir() else self.artifact
        extra = Path(f"{path}.data")  # ONNX external data, if the exporter split it out
        size = sum(p.stat().st_size for p in (path, extra) if p.is_file())
        return round(size / 1e6, 3) if size else None


def parse_list(value: str | list[str] | tuple[str, ...] | None, valid: tuple[str, ...], what: str):
    """'a,b' or a list -> list, with UsageError naming the valid values for unknown ones."""
    if value is None:
        return list(valid)
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i.strip()]
    unknown = [i for i in items if i not in valid]
    if unknown or not items:
        raise UsageError(
            f"unknown {what} {', '.join(repr(u) for u in unknown) or '(empty list)'}",
            hint=f"valid {what}s: {', '.join(valid)}",
        )
    return list(dict.fromkeys(items))


def parse_batch_sizes(value: str | list[int] | tuple[int, ...]) -> list[int]:
    """'1,8,32' or a list of ints -> sorted distinct batch sizes, each in [1, 2**31-1]. Text is
    ASCII decimal (int() alone would read '١٢' as 12, and int(2.5) is a silent 2)."""
    if isinstance(value, str):
        texts = [v.strip() for v in value.split(",")]
        if not all(t.isascii() and t.isdigit() for t in texts):
            raise UsageError(
                f"batch sizes must be integers, got {value!r}", hint="e.g. --batch-sizes 1,8,32"
            )
        value = [int(t) for t in texts]
    if isinstance(value, (bytes, dict)) or not isinstance(value, (list, tuple)):
        raise UsageError(f"batch sizes must be a list of integers, got {_args.show(value)}")
    items = [_args.integer("--batch-sizes", v) for v in value]
    if not items or any(b < 1 for b in items):
        raise UsageError(f"batch sizes must be >= 1, got {value!r}", hint="e.g. --batch-sizes 1,8")
    return sorted(set(items))


_PRECISION_TOKEN = re.compile(r"(?:^|[._-])(fp32|fp16|bf16|int8|best)(?=$|[._-])")


def describe_file(path: Path) -> tuple[str, str]:
    """(precision, variant) of an artifact: as it records it, else from its name."""
    found = backend_for_path(path)
    recorded = found[0].recorded_precision(path) if found is not None else None
    if recorded in PRECISIONS:
        return str(recorded), path.stem
    for v in ONNX_VARIANTS:
        if path.name == v.filename:
            return v.precision, v.variant
    found_tokens = _PRECISION_TOKEN.findall(path.stem)
    precision = found_tokens[-1] if found_tokens and found_tokens[-1] in PRECISIONS else "fp32"
    return precision, path.stem


def _explicit(artifacts: list[Path] | None) -> dict[str, list[Path]]:
    """Explicit artifact files by backend (from their suffixes)."""
    measurable = [b for b in BACKENDS.values() if not b.opens_folders]
    explicit: dict[str, list[Path]] = {}
    for a in artifacts or []:
        found = backend_for_path(a) if a.suffix else None
        if found is None or found[0].opens_folders:
            raise UsageError(
                f"cannot tell the backend of '{a}' from its suffix",
                hint=f"artifacts end in {', '.join(s for b in measurable for s in b.suffixes)}",
            )
        explicit.setdefault(found[0].name, []).append(found[1])
    return explicit


def _runner_options(info: BackendInfo, settings: dict[str, Any]) -> dict[str, Any]:
    """The bench settings (device, threads) this backend's runner declares as options."""
    declared = info.runner_class().OPTIONS
    return {k: v for k, v in settings.items() if k in declared}


def plan_cases(
    run: Path | None,
    *,
    backends: list[str],
    precisions: list[str],
    device: str = "cpu",
    threads: int | None = None,
    torch_compile: bool = False,
    ort_tensorrt: bool = False,
    artifacts: list[Path] | None = None,
) -> list[Case]:
    """Every case to report, in table order; cases that cannot run carry a skip reason."""
    explicit = _explicit(artifacts)
    settings = {"device": device, "threads": threads}
    cases: list[Case] = []
    for backend in backends:
        if backend == "torch":
            cases += _torch_cases(run, precisions, device, threads, torch_compile)
            continue
        info = BACKENDS[backend]
        opts = _runner_options(info, settings)
        skip = info.needs_cuda if device == "cpu" else None
        files = explicit.get(backend)
        if files is None and info.run_files:  # fixed names: a skipped row for each missing one
            for name in info.run_files:
                path = run / name if run is not None else None
                prec, variant = describe_file(Path(name))
                if prec in precisions:
                    missing = path is None or not path.is_file()
                    why = f"artifact missing: {name} ({info.how_to_make})" if missing else skip
                    cases.append(Case(backend, prec, variant, path, opts, why))
        else:
            kept = [(f, *describe_file(f)) for f in files or info.discover(run)]
            kept = [(f, p, v) for f, p, v in kept if p in precisions]
            if not kept and files is None:
                why = f"artifact missing: no {backend} artifact in the run folder"
                cases.append(Case(backend, "*", "-", None, skip=f"{why} ({info.how_to_make})"))
            cases += [Case(backend, p, v, f, opts, skip) for f, p, v in kept]
        if backend == "onnxruntime" and files is None:
            cases += _onnxruntime_extras(cases, precisions, ort_tensorrt)
    return _mark_stale(cases, run)


def _mark_stale(cases: list[Case], run: Path | None) -> list[Case]:
    """Flag each artifact that is not made from ``run``'s checkpoint (``provenance.verdict``):
    such a case is reported as ``stale`` and never measured (an ``ok`` row would compare it with
    another model). One verdict per file."""
    from vggdeploy.backends.freshness import verdict

    seen: dict[Path, Any] = {}
    for c in cases:
        if c.skip is None and c.artifact is not None and not c.artifact.is_dir():
            if c.artifact not in seen:
                seen[c.artifact] = verdict(c.artifact, run=run)
            if seen[c.artifact].stale:
                v = seen[c.artifact]
                c.stale = f"{v.reason} ({v.action})" if v.action else v.reason
    return cases


def _onnxruntime_extras(cases: list[Case], precisions: list[str], ort_tensorrt: bool) -> list:
    """The ONNX files again through ORT's TensorRT EP (opt-in), and the bf16 row ORT lacks."""
    extra = []
    if ort_tensorrt:
        extra = [
            Case(
                c.backend,
                c.precision,
                f"{c.variant}+trt-ep".lstrip("-+"),
                c.artifact,
                {**c.options, "providers": "tensorrt,cuda"},
                c.skip,
            )
            for c in cases
            if c.backend == "onnxruntime" and "providers" not in c.options
        ]
    if "bf16" in precisions:
        extra.append(
            Case("onnxruntime", "bf16", "-", None, skip="no bf16 ONNX variant is exported")
        )
    return extra


def _torch_cases(run, precisions, device, threads, torch_compile) -> list[Case]:
    cases = []
    variants = ["eager", "compile"] if torch_compile else ["eager"]
    for variant in variants:
        for prec in precisions:
            opts = {"device": device, "precision": prec, "threads": threads}
            if variant == "compile":
                opts["compile"] = True
            skip = None
            if prec == "int8":
                skip = "not supported: the torch runner has no int8 path (see onnxruntime int8)"
            elif prec == "fp16" and device == "cpu":
                skip = "not supported: torch fp16 autocast needs CUDA (bf16 runs on CPU)"
            cases.append(Case("torch", prec, variant, run, opts, skip))
    return cases


def validate_backends(value: Any) -> list[str]:
    return parse_list(value, tuple(BACKENDS), "backend")
