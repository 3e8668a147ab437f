"""What an ONNX artifact *is*, read from its own content, and what its file name claims.

Identity by content: the export stage records the variant tag (``vggdeploy.precision``:
fp32, fp16, int8, int8-cpu) in the model's metadata, and the graph itself shows its numeric
precision (Q/DQ nodes: int8; FLOAT16 tensors: fp16; else fp32). :func:`onnx_identity` reads both
and refuses a file whose recorded tag contradicts its graph. A file name is never evidence: it is
only a *claim* (:func:`name_claim`: ``model.fp16.onnx`` claims the fp16 variant, a ``-int8``
token claims int8) that :func:`name_contradiction` compares with the content, so every consumer
either labels the file by its content or refuses it (exit 4) - never by the name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vggdeploy.artifacts.variants import ONNX_VARIANTS, PRECISIONS, VARIANTS_BY_TAG, split_variant
from vggdeploy.errors import ArtifactError

#: ops that only a quantized graph has (QDQ form, or ORT's QOperator form)
QUANTIZED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
     "MatMulInteger", "DynamicQuantizeLinear", "QGemm"}
)  # fmt: skip
_FLOAT16 = 10  # onnx.TensorProto.FLOAT16
UNTAGGED = "untagged"  # variant column of an ONNX model that records no variant tag

_PRECISION_TOKEN = re.compile(r"(?:^|[._-])(fp32|fp16|bf16|int8)(?=$|[._-])", re.IGNORECASE)


@dataclass(frozen=True)
class Identity:
    """What an artifact is, from its content."""

    precision: str  # one of PRECISIONS
    variant: str  # bench's variant column ("-", "tensorrt", "cpu", a free label, or UNTAGGED)
    tag: str | None = None  # the recorded ONNX variant tag (None: the file records none)


@dataclass(frozen=True)
class Claim:
    """What a file name says about the artifact (nothing is decided by it)."""

    tag: str | None = None  # an ONNX variant tag the name is reserved for
    precision: str | None = None  # a precision the name spells out

    def __bool__(self) -> bool:
        return self.tag is not None or self.precision is not None


def graph_precision(model: Any) -> str:
    """The numeric precision an ONNX graph computes in: int8 (quantized ops), fp16 (FLOAT16
    weights, casts or tensors) or fp32."""
    graph = model.graph
    if any(n.op_type in QUANTIZED_OPS for n in graph.node):
        return "int8"
    if any(t.data_type == _FLOAT16 for t in graph.initializer):
        return "fp16"
    if any(
        n.op_type == "Cast" and any(a.name == "to" and a.i == _FLOAT16 for a in n.attribute)
        for n in graph.node
    ):
        return "fp16"
    values = [*graph.input, *graph.output, *graph.value_info]
    if any(v.type.tensor_type.elem_type == _FLOAT16 for v in values):
        return "fp16"
    return "fp32"


def identity_of_model(model: Any, *, source: str) -> Identity:
    """The identity of a loaded ModelProto; ArtifactError (exit 4) when the tag it records is
    unknown or contradicts its own graph."""
    from vggdeploy.artifacts.onnx_meta import META_PRECISION, metadata

    tag = metadata(model).get(META_PRECISION)
    computed = graph_precision(model)
    if tag is None:
        return Identity(computed, UNTAGGED if computed != "fp32" else "-", None)
    variant = VARIANTS_BY_TAG.get(tag)
    if variant is None:
        raise ArtifactError(
            f"'{source}' records the variant tag {tag!r}, which this vggdeploy does not know",
            hint=f"known tags: {', '.join(VARIANTS_BY_TAG)}; export it again with "
            "`vggdeploy export RUN`",
        )
    if variant.precision != computed:
        raise ArtifactError(
            f"'{source}' records the {tag} variant, but its graph computes in {computed}: the file "
            "was modified after export",
            hint=f"export it again with `vggdeploy export RUN --precision {variant.precision}`",
        )
    return Identity(variant.precision, variant.variant, tag)


def onnx_identity(path: str | os.PathLike[str]) -> Identity:
    """The identity of an ONNX file (its weights are not loaded)."""
    from vggdeploy.artifacts.onnx_meta import load_onnx

    return identity_of_model(load_onnx(path, load_external_data=False), source=str(path))


def name_claim(path: str | os.PathLike[str]) -> Claim:
    """What ``path``'s name claims: a run's variant file name (``model.int8.onnx``) or
    ``NAME.<tag>.onnx`` claims that variant; a precision token (``resnet-fp16.engine``) claims
    that precision; any other name claims nothing."""
    p = Path(path)
    for v in ONNX_VARIANTS:
        if p.name == v.filename:
            return Claim(v.tag, v.precision)
    split = split_variant(p)
    if split is not None and split[0] != "fp32":
        return Claim(split[0], VARIANTS_BY_TAG[split[0]].precision)
    tokens = [t.lower() for t in _PRECISION_TOKEN.findall(p.name)]
    if tokens and tokens[-1] in PRECISIONS:
        return Claim(None, tokens[-1])
    return Claim()


def name_contradiction(path: str | os.PathLike[str], identity: Identity) -> str | None:
    """None when ``path``'s name claims nothing or what ``identity`` is; else the sentence
    saying how the name and the content differ."""
    claim = name_claim(path)
    name = Path(path).name
    if claim.tag is not None and identity.tag is not None and claim.tag != identity.tag:
        return (
            f"the file name '{name}' says {claim.tag}, but its content is the {identity.tag} model"
        )
    if claim.precision is not None and claim.precision != identity.precision:
        return (
            f"the file name '{name}' says {claim.precision}, but its content is "
            f"{identity.precision}"
        )
    return None


def check_name(path: str | os.PathLike[str], identity: Identity) -> None:
    """ArtifactError (exit 4) when ``path``'s name contradicts its content."""
    why = name_contradiction(path, identity)
    if why:
        raise ArtifactError(
            f"'{path}' is not what its name says: {why}",
            hint="give the file a name that matches what it is (or none: e.g. model-a.onnx), or "
            "export it again with `vggdeploy export RUN`",
        )


__all__ = [
    "Claim",
    "Identity",
    "UNTAGGED",
    "check_name",
    "graph_precision",
    "identity_of_model",
    "name_claim",
    "name_contradiction",
    "onnx_identity",
]
