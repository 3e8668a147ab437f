from __future__ import annotations

from pathlib import Path

import pytest
from precision_runs import exported_run


@pytest.fixture(scope="session")
def debug_run(_trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny run with model.onnx, model.fp16.onnx, model.int8.onnx, model.int8-cpu.onnx
    (shared: tests copy it before changing anything)."""
    return exported_run(_trained_run, tmp_path_factory.mktemp("debug") / "run", fake_data)
