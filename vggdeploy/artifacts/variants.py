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

    tag: str  # its one name: in file names, reports, metadata (vggdeploy.precision), bench rows
    precision: str  # one of EXPORT_PRECISIONS
    target: str | None  # the runtime an INT8 form is made for ("tensorrt", "cpu"); None otherwise
    filename: str  # name inside the run folder

    @property
    def variant(self) -> str:
        """Bench's variant column: the target of an INT8 form, "-" for a plain precision."""
        return self.target or "-"

    def path(self, base: Path) -> Path:
        """This variant beside ``base`` (the FP32 model, e.g. RUN/model.onnx)."""
        return variant_path(base, self.tag)


ONNX_VARIANTS = (
    OnnxVariant("fp32", "fp32", None, "model.onnx"),
    OnnxVariant("fp16", "fp16", None, "model.fp16.onnx"),
    OnnxVariant("int8", "int8", "tensorrt", "model.int8.onnx"),  # Q/DQ as TensorRT expects
    OnnxVariant("int8-cpu", "int8", "cpu", "model.int8-cpu.onnx"),  # fastest with ORT on CPU
)
VARIANTS_BY_TAG = {v.tag: v for v in ONNX_VARIANTS}
#: INT8 target -> the tag of the variant made for it (derived from ONNX_VARIANTS).
INT8_TARGETS = {v.target: v.tag for v in ONNX_VARIANTS if v.target is not None}


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
