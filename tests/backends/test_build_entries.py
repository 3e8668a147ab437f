"""The library's build entries do their own checks before a long build, from Python exactly as
from the CLI (issue 18): the run lock of the run folder they read, and the writability probe of
the folder they write. Neither needs TensorRT or a compile to show, so both run here on CPU."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from vggdeploy.backends.inductor import build_inductor
from vggdeploy.backends.tensorrt.build import build_engine
from vggdeploy.errors import OutputError, RunLockedError
from vggdeploy.runlock import LOCK_NAME

BUILDS = {
    "tensorrt": lambda run, out=None: build_engine(run / "model.onnx", out),
    "inductor": lambda run, out=None: build_inductor(run, out),
}


@pytest.fixture
def no_tensorrt(monkeypatch):
    """TensorRT absent: any check that happens after it is required would be exit 5 instead."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


@pytest.fixture
def held(tmp_path):
    """The run folder, its lock held by another open file (as another process would hold it)."""
    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield run
    os.close(fd)


@pytest.mark.parametrize("backend", sorted(BUILDS))
def test_build_takes_the_run_lock_of_the_folder_it_reads(backend, held, no_tensorrt):
    with pytest.raises(RunLockedError, match="did not start") as info:
        BUILDS[backend](held)
    assert "build-engine" in info.value.message
    assert sorted(p.name for p in held.iterdir()) == [LOCK_NAME]  # nothing written


@pytest.mark.parametrize("backend", sorted(BUILDS))
def test_build_probes_its_output_folder_first(backend, tmp_path, no_tensorrt):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "f").write_text("a file, not a folder")
    out = tmp_path / "f" / ("m.engine" if backend == "tensorrt" else "m.pt2")
    with pytest.raises(OutputError, match=r"folder .*is not a folder"):
        BUILDS[backend](run, out)
    assert not (run / LOCK_NAME).read_text()  # the lock was taken, and released (emptied)


def test_a_missing_source_folder_is_not_created(tmp_path, no_tensorrt):
    """No lock where there is no run: the build reports the missing input, no folder appears."""
    missing = tmp_path / "nope"
    with pytest.raises(Exception) as info:
        build_engine(missing / "model.onnx", tmp_path / "m.engine")
    assert not isinstance(info.value, RunLockedError)
    assert not missing.exists()


def test_the_cli_no_longer_locks_or_probes_itself():
    """One place: the build-engine command leaves both to the library."""
    source = Path(__file__).resolve().parents[2] / "vggdeploy" / "cli" / "build_engine.py"
    text = source.read_text()
    assert "run_lock" not in text and "ensure_writable_dir" not in text
