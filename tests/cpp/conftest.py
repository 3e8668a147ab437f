"""The C++ runners built once per session (scripts/build_cpp.sh; about a minute on 2 cores, then
incremental): vgg_common_selftest always, vgg_aoti where libtorch is found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "cpp" / "build"


@pytest.fixture(scope="session")
def built() -> Path:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"C++ toolchain missing: {', '.join(missing)} not on PATH")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_cpp.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"C++ build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "vgg_trt: SKIPPED" in proc.stdout or (BUILD / "vgg_trt").exists()
    return BUILD
