"""Fixtures of the TensorRT backend tests: a tiny run folder with its three ONNX variants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from onnx_variants import export_fp32, make_fp16_variant, make_int8_variant


@pytest.fixture(scope="session")
def _onnx_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trained run with model.onnx, model.fp16.onnx and model.int8.onnx (built once)."""
    run = tmp_path_factory.mktemp("onnx") / "tiny"
    shutil.copytree(_trained_run, run)
    fp32 = export_fp32(run)
    make_fp16_variant(fp32)
    make_int8_variant(fp32)
    return run


@pytest.fixture
def run(_onnx_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``_onnx_run`` for one test."""
    dst = tmp_path / "tiny"
    shutil.copytree(_onnx_run, dst)
    return dst
