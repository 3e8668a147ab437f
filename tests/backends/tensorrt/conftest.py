"""Fixtures of the TensorRT backend tests: a tiny run folder with its ONNX variants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _onnx_run(exported_variants: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trained run after the real export stage (`export --precision all`, the session's
    ``exported_variants``): model.onnx, model.fp16.onnx, model.int8.onnx (+ int8-cpu), each with
    its report and provenance records as a user's run folder has them."""
    run = tmp_path_factory.mktemp("onnx") / "tiny"
    shutil.copytree(exported_variants["fp32"].path.parent, run)
    return run


@pytest.fixture
def run(_onnx_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``_onnx_run`` for one test."""
    dst = tmp_path / "tiny"
    shutil.copytree(_onnx_run, dst)
    return dst
