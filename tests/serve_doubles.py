"""Test doubles for the serving tests: real Runners around the tiny_run checkpoint's torch model.

They exist so that the Predictor can be tested before (and independently of) the real backend
modules; they follow vggdeploy.backends.base exactly and compute real logits with torch eager.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import onnx
import torch

from vggdeploy.backends.base import Runner
from vggdeploy.checkpoint import load_checkpoint
from vggdeploy.onnxmeta import set_spec_metadata
from vggdeploy.spec import ModelSpec


class CheckpointDouble(Runner):
    """Torch eager on a checkpoint. Options: ``bounds=(lo, hi)``, ``spec_changes={...}``."""

    kind = "torch"

    def _activate(self) -> ModelSpec:
        self.model, spec = load_checkpoint(self.source)
        self.calls: list[int] = []
        if self.options.get("spec_changes"):
            spec = replace(spec, **self.options["spec_changes"])
        return spec

    def batch_bounds(self) -> tuple[int, int | None]:
        return self.options.get("bounds", (1, None))

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.shape[0])
        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)).numpy()


class OverlapDetector(CheckpointDouble):
    """Records whether two _infer calls ever ran at the same time (kind given per test)."""

    kind = "tensorrt"

    def _activate(self) -> ModelSpec:
        spec = super()._activate()
        self.inside = 0
        self.max_inside = 0
        self._count_lock = threading.Lock()
        return spec

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        with self._count_lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            time.sleep(0.002)  # widen the window in which an overlap would be seen
            return super()._infer(batch)
        finally:
            with self._count_lock:
                self.inside -= 1


def export_onnx(run_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> str:
    """ONNX of a checkpoint: input "input" [batch, C, H, W], output "logits", spec metadata."""
    model, spec = load_checkpoint(run_dir)
    x = torch.zeros(2, *spec.input.shape(1)[1:])
    torch.onnx.export(
        model,
        (x,),
        str(out),
        input_names=[spec.input.name],
        output_names=[spec.output_name],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    proto = onnx.load(str(out))
    set_spec_metadata(proto, spec)
    onnx.save(proto, str(out))
    return str(out)


def build_pt2(run_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> str:
    """AOTInductor package of a checkpoint with a dynamic batch dimension (CPU)."""
    model, spec = load_checkpoint(run_dir)
    x = torch.zeros(2, *spec.input.shape(1)[1:])
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    # The ModelSpec goes into the package metadata, where vgg_aoti finds it to check inputs.
    configs = {"aot_inductor.metadata": {"vggdeploy.modelspec": spec.to_json()}}
    return str(
        torch._inductor.aoti_compile_and_package(
            program, package_path=str(out), inductor_configs=configs
        )
    )


def reference_logits(run_dir: str | os.PathLike[str], batch: np.ndarray) -> np.ndarray:
    model, _ = load_checkpoint(run_dir)
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


def register(monkeypatch: Any, kind: str, cls: type[Runner]) -> None:
    monkeypatch.setitem(
        __import__("vggdeploy.backends.base", fromlist=["BACKENDS"]).BACKENDS,
        kind,
        f"{__name__}:{cls.__name__}",
    )
