"""Which (backend, precision, variant) cases a bench run measures, and with which artifact.

Where each backend's artifacts live in a run folder, what makes them and what a backend needs to
run are facts of the backend registry (``vggdeploy.backends.registry``); this module turns them
into table rows:

==============  =========  ============  ============================================
backend         precision  variant       artifact
==============  =========  ============  ============================================
torch           fp32/bf16  eager         RUN (checkpoint); fp16 only on CUDA; ``compile``
                                         variant with ``torch_compile=True``
onnxruntime     recorded   -/tensorrt/   the registry's ``run_files`` (the ONNX variants of
                           cpu           artifacts/variants.py; the variant column is an
                                         INT8 form's target), a skipped row for each
                                         missing one
onnxruntime     any        +trt-ep       the same files through ORT's TensorRT EP
                                         (``ort_tensorrt=True``, CUDA only)
tensorrt        recorded   stem          the registry's ``run_globs``; precision as the
                                         engine records it (its sidecar)
inductor        recorded   stem          the registry's ``run_globs`` (.pt2 packages)
openvino        recorded   stem          the registry's ``run_globs`` (IR .xml + .bin)
==============  =========  ============  ============================================

A precision asked of a backend that builds it (the registry's ``builds``) with no such artifact in
the run folder is a skipped row naming the build command, or, for bf16 on a CPU without native
BF16, why none can be built here.

Identity by content: a row's precision and variant are what the artifact records about itself
(``backends.identity.artifact_identity``), never what its file name says; a file whose name
contradicts its content is measured under its content's label with a note saying so, and one whose
identity cannot be read is a failed row. Rows are keyed by identity: two artifacts with the same
label but different content get the short sha256 of their content appended to the variant
(``-@1a2b3c4d``); the same content named twice is measured once.

Explicit files (``artifacts=``) replace discovery for their backend (by suffix).
A case that cannot run here carries ``skip`` (the reason) and is reported as a skipped row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vggdeploy import _args
from vggdeploy.artifacts.checkpoint import WEIGHTS_NAME
from vggdeploy.artifacts.identity import name_claim
from vggdeploy.artifacts.variants import VARIANTS_BY_TAG
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
    failed: str | None = None  # why it cannot be measured (e.g. its identity is unreadable)
    note: str | None = None  # shown with an ok row (e.g. its name contradicts its content)

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
        found = backend_for_path(path)
        files = found[0].files_of(path) if found is not None else [path]  # + an IR's NAME.bin
        files.append(Path(f"{path}.data"))  # ONNX external data, if the exporter split it out
        size = sum(p.stat().st_size for p in files if p.is_file())
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


def describe_file(path: Path) -> tuple[str, str]:
    """(precision, variant) of an artifact, as its content records it (ArtifactError when it
    records nothing readable)."""
    from vggdeploy.backends.identity import artifact_identity

    ident = artifact_identity(path)
    return ident.precision, ident.variant


def _content_case(path: Path, info: BackendInfo, opts: dict[str, Any], skip: str | None) -> Case:
    """The case of an existing artifact, labelled by its content."""
    from vggdeploy.artifacts.identity import name_contradiction
    from vggdeploy.backends.identity import artifact_identity
    from vggdeploy.errors import ArtifactError

    try:
        ident = artifact_identity(path)
    except ArtifactError as exc:
        return Case(info.name, "?", path.name, path, opts, skip, failed=exc.message)
    # the variant column: the recorded variant for a run's own file names; a freely named file
    # keeps its stem as its label (a label only: precision and rows' keys come from content)
    label = path.stem if info.run_files and path.name not in info.run_files else ident.variant
    case = Case(info.name, ident.precision, label, path, opts, skip)
    case.note = name_contradiction(path, ident)
    return case


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
                if path is not None and path.is_file():
                    case = _content_case(path, info, opts, skip)
                    if case.precision in precisions or case.failed:
                        cases.append(case)
                    continue
                claim = name_claim(name)  # nothing to read: the row names the missing file
                variant = VARIANTS_BY_TAG[claim.tag].variant if claim.tag else "-"
                if claim.precision in precisions:
                    why = f"artifact missing: {name} ({info.how_to_make})"
                    cases.append(Case(backend, str(claim.precision), variant, path, opts, why))
        else:
            found = files or info.discover(run)
            kept = [_content_case(f, info, opts, skip) for f in found if files or _trusted(f, info)]
            kept = [c for c in kept if c.precision in precisions or c.failed]
            kept += [_unrecorded(f, info) for f in found if not files and not _trusted(f, info)]
            if not kept and files is None:
                why = f"artifact missing: no {backend} artifact in the run folder"
                cases.append(Case(backend, "*", "-", None, skip=f"{why} ({info.how_to_make})"))
            cases += kept
            if kept and files is None:
                cases += _missing_builds(info, kept, precisions, device)
        if backend == "onnxruntime" and files is None:
            cases += _onnxruntime_extras(cases, precisions, ort_tensorrt)
    cases = _keyed_by_identity(cases)
    return _mark_stale(cases, run)


def _missing_builds(
    info: BackendInfo, kept: list[Case], precisions: list[str], device: str
) -> list[Case]:
    """A skipped row per asked precision the backend builds but the run folder has no artifact
    of; on a CPU without native BF16, a bf16 row says why none can be built here."""
    have = {c.precision for c in kept}
    rows = []
    for prec in (p for p in info.builds if p in precisions and p not in have):
        why = _bf16_refusal() if prec == "bf16" and device == "cpu" else None
        missing = f"artifact missing: no {info.name} {prec} artifact in the run folder"
        why = why or f"{missing} ({info.how_to_make})"
        rows.append(Case(info.name, prec, "-", None, skip=why))
    return rows


def _trusted(path: Path, info: BackendInfo) -> bool:
    """May bench load a file it found by itself? Data always; native code (a .pt2 library, a
    TensorRT plan) only when the folder's record says vggdeploy built it, bytes unchanged."""
    from vggdeploy.artifacts.written import recorded_as_built

    return not info.native_code or recorded_as_built(path)


def _unrecorded(path: Path, info: BackendInfo) -> Case:
    """The skipped row of native code found in the run folder that vggdeploy did not build (its
    metadata is not even read)."""
    why = (
        f"not loaded: '{path.name}' is native code that vggdeploy did not record building here "
        '(README "Security"); to run it anyway, name it: --artifacts PATH'
    )
    return Case(info.name, "?", path.name, path, skip=why)


def _keyed_by_identity(cases: list[Case]) -> list[Case]:
    """One case per artifact identity: the same content (and options) listed twice is measured
    once; different contents under one label get their short sha256 appended to the variant, so
    no two rows share a key (a shared key merged their timings and accuracy)."""
    from vggdeploy._io import sha256_file

    def digest(c: Case) -> str:
        if c.artifact is None or not c.artifact.is_file():
            return str(c.artifact)
        return sha256_file(c.artifact)

    by_key: dict[str, list[Case]] = {}
    for c in cases:
        by_key.setdefault(c.key, []).append(c)
    out: list[Case] = []
    emitted: set[int] = set()
    for c in cases:
        group = by_key[c.key]
        if len(group) == 1:
            out.append(c)
            emitted.add(id(c))
            continue
        sha = digest(c)
        same = [o for o in group if id(o) in emitted and digest(o) == sha]
        if any(o.options == c.options for o in same):
            continue  # the same artifact twice: one row
        c.variant = f"{c.variant}@{sha[:8]}" if len(sha) == 64 else f"{c.variant}@{len(out)}"
        out.append(c)
        emitted.add(id(c))
    return out


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
            elif prec == "bf16" and device == "cpu":
                skip = _bf16_refusal()
            cases.append(Case("torch", prec, variant, run, opts, skip))
    return cases


def _bf16_refusal() -> str | None:
    """The skip reason of a CPU bf16 row where BF16 would be emulated (None where native)."""
    from vggdeploy.backends.cpu_features import cpu_features

    refusal = cpu_features().bf16_refusal()
    return f"not native here: {refusal}" if refusal else None


def validate_backends(value: Any) -> list[str]:
    return parse_list(value, tuple(BACKENDS), "backend")
