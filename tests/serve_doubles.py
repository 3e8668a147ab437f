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
import torch

from vggdeploy.artifacts.checkpoint import load_checkpoint
from vggdeploy.backends.base import Runner
from vggdeploy.spec import ModelSpec


class CheckpointDouble(Runner):
    """Torch eager on a checkpoint."""

    kind = "torch"
    OPTIONS = {"bounds": "(lo, hi) batch bounds to report", "spec_changes": "ModelSpec fields"}

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


def reference_logits(run_dir: str | os.PathLike[str], batch: np.ndarray) -> np.ndarray:
    model, _ = load_checkpoint(run_dir)
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


def register(monkeypatch: Any, kind: str, cls: type[Runner]) -> None:
    """Let the registry entry of ``kind`` open ``cls`` (everything else about ``kind`` stays)."""
    from vggdeploy.backends.registry import BACKENDS

    entry = replace(BACKENDS[kind], runner=f"{cls.__module__}:{cls.__qualname__}")
    monkeypatch.setitem(BACKENDS, kind, entry)
