"""Issue 19 class 6: a command touches only files it wrote, and publishes all or nothing.

Generated over every command that writes a multi-file output here (``COMMANDS``: triton-repo,
bench, debug-precision) and over the ways a user's file meets it:

* a file of the user's beside the outputs (and, for triton-repo, a version folder and notes in
  the model folder) survives a re-run without ``--force`` byte for byte;
* an output the command wrote and the user edited since is refused without ``--force`` (exit 2,
  unchanged) and replaced with it;
* a file the user made under an output's name before the first run is refused (exit 2);
* a write failure injected at the k-th rename of the publish leaves the previous output
  byte-identical (exit 8), for every k up to the number of renames the publish makes.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from onnx_artifacts import export_fp32, make_variant

from vggdeploy.cli import main


@dataclass(frozen=True)
class Command:
    name: str
    argv: Callable[[Path, Path, Path], list[str]]  # (run, out, data) -> argv
    output: Callable[[Path], Path]  # out -> the folder holding its files
    written: tuple[str, ...]  # files (relative to output) it writes that a user may edit


def _quick_bench(run: Path, out: Path, data: Path) -> list[str]:
    return [
        "bench", str(run), "--backends", "torch", "--precisions", "fp32", "--batch-sizes", "1",
        "--iters", "1", "--warmup", "0", "--repeats", "1", "--limit-test", "8", "--threads", "1",
        "--data-dir", str(data), "--out", str(out),
    ]  # fmt: skip


COMMANDS = [
    Command(
        "triton-repo",
        lambda run, out, data: ["triton-repo", str(run), "-o", str(out), "--name", "m"],
        lambda out: out / "m",
        ("config.pbtxt", "labels.txt", "1/model.onnx"),
    ),
    Command("bench", _quick_bench, lambda out: out, ("results.json", "results.csv", "report.md")),
    Command(
        "debug-precision",
        lambda run, out, data: [
            "debug-precision",
            str(run),
            "--precision",
            "fp16",
            "--images",
            "8",
            "--data-dir",
            str(data),
            "-o",
            str(out),
        ],  # fmt: skip
        lambda out: out,
        ("fp16.json", "fp16.md"),
    ),
]
IDS = [c.name for c in COMMANDS]


@pytest.fixture(scope="module")
def source(_trained_run: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("owned") / "run"
    shutil.copytree(_trained_run, run)
    export_fp32(run)
    make_variant(run, "fp16")
    return run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("cmd", COMMANDS, ids=IDS)
def test_user_files_survive_a_rerun(cmd, source, fake_data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = cmd.argv(source, out, fake_data)
    assert _run(argv, capsys)[0] == 0
    folder = cmd.output(out)
    mine = {"NOTES.md": b"my notes\n", "2/model.onnx": b"my other version", "sub/x.txt": b"x"}
    for rel, data in mine.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    code, err = _run(argv, capsys)
    assert code == 0, err
    assert {rel: (folder / rel).read_bytes() for rel in mine} == mine


@pytest.mark.parametrize("edited", range(3))
@pytest.mark.parametrize("cmd", COMMANDS, ids=IDS)
def test_an_edited_output_is_refused_without_force(
    cmd, edited, source, fake_data, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = cmd.argv(source, out, fake_data)
    assert _run(argv, capsys)[0] == 0
    folder = cmd.output(out)
    target = folder / cmd.written[edited % len(cmd.written)]
    target.write_bytes(target.read_bytes() + b"\n# my edit\n")
    before = _snapshot(folder)
    code, err = _run(argv, capsys)
    assert code == 2 and str(target.name) in err, err
    assert _snapshot(folder) == before
    code, err = _run([*argv, "--force"], capsys)
    assert code == 0, err
    assert b"# my edit" not in target.read_bytes()


@pytest.mark.parametrize("cmd", COMMANDS, ids=IDS)
def test_a_user_file_under_an_output_name_is_refused(cmd, source, fake_data, tmp_path, capsys):
    out = tmp_path / "out"
    folder = cmd.output(out)
    if cmd.name == "triton-repo":  # a model folder of the user's: not vggdeploy's to replace
        folder.mkdir(parents=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    name = cmd.written[0]
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"the user's own file")
    code, err = _run(cmd.argv(source, out, fake_data), capsys)
    assert code == 2, err
    assert (folder / name).read_bytes() == b"the user's own file"


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("cmd", COMMANDS, ids=IDS)
def test_a_failed_publish_leaves_the_old_output_byte_identical(
    cmd, k, source, fake_data, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    argv = cmd.argv(source, out, fake_data)
    assert _run(argv, capsys)[0] == 0
    (cmd.output(out) / "NOTES.md").write_bytes(b"mine")
    before = _snapshot(out)
    real = os.replace
    calls = {"n": 0}

    def failing_replace(src, dst, *a, **kw):
        calls["n"] += 1
        if calls["n"] == k:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", failing_replace)
    code, err = _run(argv, capsys)
    monkeypatch.setattr(os, "replace", real)
    if calls["n"] < k:  # the publish made fewer renames: nothing failed
        assert code == 0, err
        return
    assert code == 8, err
    assert _snapshot(out) == before
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
