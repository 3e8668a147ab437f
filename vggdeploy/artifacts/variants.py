"""The names every stage agrees on: precisions, the ONNX variant files of a run, the log callback.

One home: the export stage writes these files, ``build-engine`` picks its source among them, bench
discovers them, serving and Triton read them. A new precision or ONNX variant is added here first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Progress messages: the CLI passes ``click.echo``; library callers may pass ``print`` or nothing.
Log = Callable[[str], None]

#: Every numeric precision a bench row or an artifact can have.
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
#: The precisions the export stage writes ONNX models for (and TensorRT builds engines from).
EXPORT_PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class OnnxVariant:
    """One ONNX file of a run folder."""

    tag: str  # as in file names and reports: fp32, fp16, int8, int8-cpu
    precision: str  # one of EXPORT_PRECISIONS
    variant: str  # bench's variant column: "-" (plain), "qdq" (TensorRT Q/DQ), "cpu"
    filename: str  # name inside the run folder

    def path(self, base: Path) -> Path:
        """This variant beside ``base`` (the FP32 model, e.g. RUN/model.onnx)."""
        return variant_path(base, self.tag)


ONNX_VARIANTS = (
    OnnxVariant("fp32", "fp32", "-", "model.onnx"),
    OnnxVariant("fp16", "fp16", "-", "model.fp16.onnx"),
    OnnxVariant("int8", "int8", "qdq", "model.int8.onnx"),  # Q/DQ as TensorRT expects
    OnnxVariant("int8-cpu", "int8", "cpu", "model.int8-cpu.onnx"),  # fastest with ORT on CPU
)
VARIANTS_BY_TAG = {v.tag: v for v in ONNX_VARIANTS}


def variant_path(base: Path, tag: str) -> Path:
    """model.onnx -> model.<tag>.onnx (fp32 -> the base itself)."""
    if tag == "fp32":
        return base
    return base.with_name(f"{base.stem}.{tag}.onnx")


def split_variant(path: Path) -> tuple[str, str] | None:
    """(tag, stem) of an ONNX file name: model.fp16.onnx -> ("fp16", "model"); None if not .onnx."""
    name = path.name
    for v in ONNX_VARIANTS:
        suffix = f".{v.tag}.onnx"
        if v.tag != "fp32" and name.endswith(suffix):
            return v.tag, name[: -len(suffix)]
    if name.endswith(".onnx"):
        return "fp32", name[: -len(".onnx")]
    return None
