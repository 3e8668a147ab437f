"""Which (backend, precision, variant) cases a bench run measures, and with which artifact.

Discovery in a run folder (names other stages write, see DESIGN.md):

==============  =========  ========  =================================================
backend         precision  variant   artifact
==============  =========  ========  =================================================
torch           fp32/bf16  eager     RUN (checkpoint); fp16 only on CUDA; ``compile``
                                     variant with ``torch_compile=True``
onnxruntime     any        +trt-ep   the ONNX files above through ORT's TensorRT EP
                                     (``ort_tensorrt=True``, CUDA only)
onnxruntime     fp32       -         RUN/model.onnx
onnxruntime     fp16       -         RUN/model.fp16.onnx
onnxruntime     int8       qdq       RUN/model.int8.onnx  (Q/DQ made for TensorRT)
onnxruntime     int8       cpu       RUN/model.int8-cpu.onnx  (made for ORT on CPU)
tensorrt        from name  stem      RUN/engines/*.engine, RUN/*.engine (precision from the
                or sidecar           ``NAME.engine.json`` sidecar's "precision", else the name)
inductor        from name  stem      RUN/*.pt2, RUN/engines/*.pt2 (sidecar ``NAME.pt2.json``)
==============  =========  ========  =================================================

Explicit files (``artifacts=``) replace discovery for their backend (by suffix).
A case that cannot run here carries ``skip`` (the reason) and is reported as a skipped row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import BACKENDS
from ..errors import UsageError
from ..variants import ONNX_VARIANTS, PRECISIONS

SUFFIX_BACKEND = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}
SUFFIX_BACKEND[".pt2"] = "inductor"
ORT_FILES = {(v.precision, v.variant): v.filename for v in ONNX_VARIANTS}
HOW_TO_MAKE = {
    "onnxruntime": "written by `vggdeploy export RUN` and its precision step",
    "tensorrt": "build one with `vggdeploy build-engine RUN` on a machine with TensorRT",
    "inductor": "package one with `vggdeploy build-engine RUN --backend inductor`",
}


@dataclass
class Case:
    backend: str
    precision: str
    variant: str
    artifact: Path | None
    options: dict[str, Any] = field(default_factory=dict)
    skip: str | None = None

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
        path = self.artifact / "model.safetensors" if self.artifact.is_dir() else self.artifact
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
    try:
        items = [int(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except ValueError as exc:
        raise UsageError(
            f"batch sizes must be integers, got {value!r}", hint="e.g. --batch-sizes 1,8,32"
        ) from exc
    if not items or any(b < 1 for b in items):
        raise UsageError(f"batch sizes must be >= 1, got {value!r}", hint="e.g. --batch-sizes 1,8")
    return sorted(set(items))


_PRECISION_TOKEN = re.compile(r"(?:^|[._-])(fp32|fp16|bf16|int8|best)(?=$|[._-])")


def describe_file(path: Path) -> tuple[str, str]:
    """(precision, variant) of an artifact from its sidecar JSON or its name."""
    sidecar = Path(f"{path}.json")
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
            if isinstance(meta, dict) and meta.get("precision") in PRECISIONS:
                return str(meta["precision"]), path.stem
        except (OSError, ValueError):
            pass  # an unreadable sidecar is the runner's error to report, with the file named
    if path.suffix == ".onnx":
        for (prec, variant), name in ORT_FILES.items():
            if path.name == name:
                return prec, variant
    found = _PRECISION_TOKEN.findall(path.stem)
    precision = found[-1] if found and found[-1] in PRECISIONS else "fp32"
    return precision, path.stem


def _discover(run: Path | None, backend: str) -> list[Path]:
    if run is None or not run.is_dir():
        return []
    if backend == "tensorrt":
        found = [*run.glob("*.engine"), *run.glob("engines/*.engine")]
    elif backend == "inductor":
        found = [*run.glob("*.pt2"), *run.glob("engines/*.pt2")]
    else:
        return []
    return sorted(set(found))


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
    explicit: dict[str, list[Path]] = {}
    for a in artifacts or []:
        kind = SUFFIX_BACKEND.get(a.suffix)
        if kind is None:
            raise UsageError(
                f"cannot tell the backend of '{a}' from its suffix",
                hint=f"artifacts end in {', '.join(SUFFIX_BACKEND)}",
            )
        explicit.setdefault(kind, []).append(a)
    cpu = device == "cpu"
    cases: list[Case] = []
    for backend in backends:
        if backend == "torch":
            cases += _torch_cases(run, precisions, device, threads, torch_compile)
            continue
        files = explicit.get(backend) or _discover(run, backend)
        if backend == "onnxruntime":
            opts = {"device": device, "threads": threads}
            if explicit.get(backend):
                for f in files:
                    prec, variant = describe_file(f)
                    if prec in precisions:
                        cases.append(Case(backend, prec, variant, f, opts))
                continue
            for (prec, variant), name in ORT_FILES.items():
                if prec not in precisions:
                    continue
                path = run / name if run is not None else None
                skip = None
                if path is None or not path.is_file():
                    skip = f"artifact missing: {name} ({HOW_TO_MAKE[backend]})"
                cases.append(Case(backend, prec, variant, path, opts, skip))
            if ort_tensorrt:  # the same files through ORT's TensorRT execution provider
                trt = [
                    Case(
                        c.backend,
                        c.precision,
                        f"{c.variant}+trt-ep".lstrip("-+"),
                        c.artifact,
                        {**opts, "providers": "tensorrt,cuda"},
                        c.skip,
                    )
                    for c in cases
                    if c.backend == "onnxruntime" and "providers" not in c.options
                ]
                cases += trt
            if "bf16" in precisions:
                cases.append(
                    Case(backend, "bf16", "-", None, skip="no bf16 ONNX variant is exported")
                )
            continue
        described = [(f, *describe_file(f)) for f in files]
        kept = [(f, p, v) for f, p, v in described if p in precisions]
        if not kept:
            cases.append(
                Case(
                    backend,
                    "*",
                    "-",
                    None,
                    skip=f"artifact missing: no {backend} artifact in the run folder "
                    f"({HOW_TO_MAKE[backend]})",
                )
            )
        for f, prec, variant in kept:
            skip = (
                "TensorRT needs a CUDA GPU (use --device cuda)"
                if (backend == "tensorrt" and cpu)
                else None
            )
            opts = {"device": device} if backend == "inductor" else {}
            cases.append(Case(backend, prec, variant, f, opts, skip))
    return cases


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
