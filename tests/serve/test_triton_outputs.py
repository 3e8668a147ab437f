"""triton-repo outputs: all models or none, a full disk is exit 8 with the repository unchanged,
the suggested command is shell-quoted."""

from __future__ import annotations

import errno
import shlex
import shutil
from pathlib import Path

import pytest
from engine_fakes import stand_in_engine
from onnx_artifacts import export_fp32 as export_onnx

from vggdeploy.artifacts.checkpoint import read_spec
from vggdeploy.errors import OutputError
from vggdeploy.serve import triton
from vggdeploy.serve.triton import build_triton_repo


@pytest.fixture(scope="module")
def exported_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("triton-out") / "mini"
    shutil.copytree(_trained_run, run)
    export_onnx(run, run / "model.onnx")
    return run


def _tree(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()
    }


def test_full_disk_while_copying_is_exit_8_and_leaves_the_repository_as_it_was(
    exported_run, tmp_path, monkeypatch
):
    repo = tmp_path / "repo"
    build_triton_repo(exported_run, repo)
    before = _tree(repo)

    def full_disk(src, dst, *a, **kw):
        Path(dst).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(triton.shutil, "copyfile", full_disk)
    with pytest.raises(OutputError) as info:
        build_triton_repo(exported_run, repo, max_batch=8, force=True)
    assert info.value.exit_code == 8 and "No space left" in str(info.value)
    assert _tree(repo) == before
    assert not [p for p in repo.iterdir() if p.name.startswith(".")]  # no stage left


def test_two_models_are_written_together_or_not_at_all(exported_run, tmp_path, monkeypatch):
    """ONNX + TensorRT: the second model failing must not leave the first one replaced."""
    repo = tmp_path / "repo"
    engine = stand_in_engine(tmp_path / "m.engine", read_spec(exported_run), max_batch=32)
    onnx = exported_run / "model.onnx"
    build_triton_repo(exported_run, repo, onnx=onnx, engine=engine)
    before = _tree(repo)
    assert {"mini/config.pbtxt", "mini_trt/config.pbtxt"} <= set(before)

    import vggdeploy._io as io_mod

    real = io_mod._swap_dir
    calls = []

    def second_fails(stage, target):
        calls.append(target.name)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(stage, target)

    monkeypatch.setattr(io_mod, "_swap_dir", second_fails)
    with pytest.raises(OutputError):
        build_triton_repo(exported_run, repo, onnx=onnx, engine=engine, max_batch=16, force=True)
    assert calls == ["mini", "mini_trt"]
    assert _tree(repo) == before  # the first model's swap was undone
    assert sorted(p.name for p in repo.iterdir()) == ["mini", "mini_trt"]


def test_unwritable_repository_is_refused_before_any_work(exported_run, tmp_path, monkeypatch):
    (tmp_path / "f").write_text("a file")
    monkeypatch.setattr(triton, "sha256_file", lambda p: pytest.fail("hashed before the check"))
    with pytest.raises(OutputError, match="model repository"):
        build_triton_repo(exported_run, tmp_path / "f" / "repo")


def test_suggested_serve_command_is_shell_quoted(exported_run, tmp_path, capsys):
    from vggdeploy.cli import main

    repo = tmp_path / "my models" / "repo"
    assert main(["triton-repo", str(exported_run), "-o", str(repo)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "serve with:" in ln)
    command = line.split("serve with: ", 1)[1]
    assert shlex.split(command) == ["tritonserver", f"--model-repository={repo}"]
