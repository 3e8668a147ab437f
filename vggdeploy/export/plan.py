"""What the export stage is asked to make: the precisions, INT8 targets and settings of one
``export_variants`` call, validated before any work (``ExportPlan.of``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vggdeploy import _args
from vggdeploy.artifacts.variants import EXPORT_PRECISIONS, INT8_TARGETS
from vggdeploy.errors import UsageError
from vggdeploy.export.onnx import check_export_options
from vggdeploy.export.quantize import CALIB_METHODS


def parse_precisions(value: str | Sequence[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for p in str(item).split(","):
            p = p.strip().lower()
            if p == "all":
                out.extend(EXPORT_PRECISIONS)
            elif p in EXPORT_PRECISIONS:
                out.append(p)
            else:
                raise UsageError(f"unknown precision {p!r}", hint="use fp32, fp16, int8 or all")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class ExportPlan:
    """What the stage was asked to make, validated before any work (``ExportPlan.of``)."""

    precisions: tuple[str, ...]  # fp32 and/or the variants' precisions
    targets: tuple[str, ...]  # the INT8 targets
    settings: dict[str, Any]  # opset, max_batch, simplify, verify, atol, rtol: model.onnx's
    calib_size: int
    calib_method: str
    limit_test: int | None
    keep_fp32: str | Sequence[str]

    @property
    def variants(self) -> list[str]:
        return [p for p in self.precisions if p != "fp32"]

    @classmethod
    def of(
        cls,
        precisions: str | Sequence[str],
        targets: str | Sequence[str],
        calib_size: int,
        calib_method: str,
        limit_test: int | None,
        keep_fp32: str | Sequence[str],
        **settings: Any,
    ) -> ExportPlan:
        wanted = parse_precisions(precisions)
        _args.integer("--calib-size", calib_size, min=1)  # checked also when int8 is not asked
        if isinstance(targets, str):
            targets = tuple(INT8_TARGETS) if targets == "all" else (targets,)
        bad = [t for t in targets if t not in INT8_TARGETS]
        if bad or not targets:
            raise UsageError(
                f"unknown --target {bad or targets}", hint=f"use {tuple(INT8_TARGETS)}"
            )
        if "int8" in wanted:
            if calib_method not in CALIB_METHODS:
                raise UsageError(
                    f"unknown --calib-method {calib_method!r}", hint=f"{CALIB_METHODS}"
                )
        if keep_fp32 and wanted == ("fp32",):
            raise UsageError(
                "--keep-fp32 applies to the fp16 and int8 variants", hint="add --precision"
            )
        _args.optional_integer("--limit-test", limit_test, min=1)
        check_export_options(
            max_batch=settings["max_batch"],
            atol=settings["atol"],
            rtol=settings["rtol"],
            opset=settings["opset"],
            simplify=settings.get("simplify"),
            verify=settings.get("verify", True),
        )
        return cls(
            wanted, tuple(targets), settings, calib_size, calib_method, limit_test, keep_fp32
        )
