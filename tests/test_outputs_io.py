"""vggdeploy._io's output helpers: strict JSON, writability probe, all-or-nothing file sets;
the CLI number types; ModelSpec checks against the graph; hints and suggested commands."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from vggdeploy._io import dumps_json, ensure_writable_dir, staged_files, write_json
from vggdeploy.cli.options import BATCH, BATCHES, DURATION, NON_NEGATIVE_FLOAT, Number
from vggdeploy.errors import ArtifactError, OutputError, UsageError
from vggdeploy.spec import (
    ModelSpec,
    batch_memory_bytes,
    check_batch_memory,
    check_graph_shapes,
)


def strict_loads(text: str):
    return json.loads(text, parse_constant=lambda t: pytest.fail(f"bare {t} in JSON"))


# ---- strict JSON ----
def test_write_json_never_writes_bare_nan(tmp_path):
    doc = {"a": float("nan"), "b": [1.5, float("inf"), -float("inf")], "c": np.float32("nan")}
    write_json(tmp_path / "x.json", doc)
    assert strict_loads((tmp_path / "x.json").read_text()) == {
        "a": None,
        "b": [1.5, None, None],
        "c": None,
    }
    assert strict_loads(dumps_json({"n": np.int64(3), "f": np.float64(0.25)})) == {
        "n": 3,
        "f": 0.25,
    }


def test_inspect_json_is_strict(tmp_path, capsys, monkeypatch):
    import vggdeploy.backends.inspection as inspection
    from vggdeploy.cli import main

    monkeypatch.setattr(inspection, "describe", lambda f: {"path": Path(f), "std": math.nan})
    assert main(["inspect", str(tmp_path / "x.onnx"), "--json"]) == 0
    assert strict_loads(capsys.readouterr().out) == {"path": str(tmp_path / "x.onnx"), "std": None}


# ---- writability ----
def test_ensure_writable_dir_creates_nothing_and_names_the_folder(tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_writable_dir(target) == target and not (tmp_path / "a").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"bench output folder '.*f/sub'.*not a folder") as info:
        ensure_writable_dir(tmp_path / "f" / "sub", "bench output folder")
    assert info.value.exit_code == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # the probe left nothing


def test_ensure_writable_dir_on_a_read_only_file_system(tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        ensure_writable_dir(tmp_path, "engine folder")


# ---- all-or-nothing file sets ----
def test_staged_files_failure_changes_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError), staged_files(tmp_path, replaces=("a.txt",)) as stage:
        (stage / "a.txt").write_text("new a")
        raise RuntimeError("crash mid-way")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old a"


def test_staged_files_failed_move_puts_the_old_files_back(tmp_path, monkeypatch):
    import os

    for name in ("a", "b"):
        (tmp_path / name).write_text(f"old {name}")
    real = os.replace
    moves = []

    def flaky(src, dst):
        moves.append(Path(dst).name)
        if Path(src).parent.name.startswith(".stage") and Path(dst).name == "b":
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="No space left"), staged_files(tmp_path) as stage:
        (stage / "a").write_text("new a")
        (stage / "b").write_text("new b")
    monkeypatch.setattr(os, "replace", real)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "old a", "b": "old b"}


# ---- CLI number types ----
@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (NON_NEGATIVE_FLOAT, "nan", "finite"),
        (NON_NEGATIVE_FLOAT, "-inf", "finite"),
        (NON_NEGATIVE_FLOAT, "-0.5", ">= 0"),
        (DURATION, "0", "> 0"),
        (DURATION, "1e9", "<= 86400"),
        (BATCH, "0", ">= 1"),
        (BATCH, "2.5", "not a valid integer"),
        (BATCH, str(2**31), "<= 2147483647"),
        (BATCHES, "1,,x", "'x' is not a valid integer"),
        (BATCHES, ",", "nothing"),
    ],
)
def test_number_types_refuse_with_the_option_name(kind, value, message):
    @click.command()
    @click.option("--opt", type=kind)
    def cmd(opt):
        pass

    result = CliRunner().invoke(cmd, ["--opt", value])
    assert result.exit_code == 2 and "--opt" in result.output and message in result.output


def test_number_types_accept_good_values():
    assert BATCHES.convert("8, 1,32", None, None) == (8, 1, 32)
    assert Number(float, min=0, min_open=True).convert("1e-3", None, None) == 1e-3
    assert BATCH.convert(7, None, None) == 7
    momentum = Number(float, min=0, max=1, max_open=True)  # e.g. train's --momentum
    assert momentum.convert("0.9", None, None) == 0.9
    with pytest.raises(click.BadParameter, match="must be < 1"):
        momentum.convert("1", None, None)


# ---- ModelSpec against the graph; memory ----
@pytest.fixture
def spec(_trained_run) -> ModelSpec:
    from vggdeploy.artifacts.checkpoint import read_spec

    return read_spec(_trained_run)


def test_check_graph_shapes(spec):
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    check_graph_shapes(spec, "m.onnx", ["batch", c, h, w], ["batch", spec.num_classes])
    check_graph_shapes(spec, "m.engine", (-1, c, h, w), (-1, spec.num_classes))  # TRT dynamic
    with pytest.raises(ArtifactError, match=r"'m.onnx' contradicts.*12 classes") as info:
        check_graph_shapes(spec, "m.onnx", ["N", c, h, w], ["N", 12])
    assert info.value.exit_code == 4
    with pytest.raises(ArtifactError, match="input width is 99"):
        check_graph_shapes(spec, "m.onnx", ["N", c, h, 99], ["N", spec.num_classes])


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("std", [float("nan")], "std .* not finite"),
        ("mean", [float("inf")], "mean .* not finite"),
        ("std", [-0.5], "std must be > 0"),
        ("scale", float("nan"), "scale .* not finite"),
    ],
)
def test_spec_preprocessing_numbers_are_checked_at_load(spec, field, value, match):
    data = spec.to_dict()
    data["preprocess"][field] = value
    with pytest.raises(ArtifactError, match=match) as info:
        ModelSpec.from_json(json.dumps(data), source="run/model.json")
    assert "run/model.json" in str(info.value)


def test_batch_memory_check(spec, monkeypatch):
    import vggdeploy.spec as spec_mod

    assert batch_memory_bytes(spec, 10) == 10 * batch_memory_bytes(spec, 1)
    monkeypatch.setattr(
        spec_mod, "physical_memory_bytes", lambda: 100 * batch_memory_bytes(spec, 1)
    )
    check_batch_memory(spec, 100, "--max-batch")
    with pytest.raises(UsageError, match=r"--max-batch 101: .*GiB") as info:
        check_batch_memory(spec, 101, "--max-batch")
    assert "at most 100" in info.value.hint


# ---- hints name the right artifact; commands are shell-quoted ----
def test_batch_hints_name_each_backends_artifact():
    from vggdeploy.backends.registry import BACKENDS

    assert "engine" in BACKENDS["tensorrt"].batch_hint()
    assert ".pt2" in BACKENDS["inductor"].batch_hint()
    onnx_hint = BACKENDS["onnxruntime"].batch_hint()
    assert "ONNX" in onnx_hint and "engine" not in onnx_hint
    for name in ("onnxruntime", "inductor", "torch"):
        assert "rebuild the engine" not in BACKENDS[name].batch_hint()


def test_static_onnx_batch_hint_does_not_speak_of_engines(_trained_run, tmp_path):
    import shutil

    from onnx_artifacts import export_fp32

    from vggdeploy.backends.base import open_runner

    run = tmp_path / "run"
    shutil.copytree(_trained_run, run)
    onnx_path = export_fp32(run, run / "model.onnx")
    runner = open_runner("onnxruntime", onnx_path).activate()
    runner._bounds = (1, 2)  # as a fixed-batch export would report
    x = np.zeros(runner.spec.input.shape(3), np.float32)
    with pytest.raises(UsageError) as info:
        runner.infer(x)
    assert "engine" not in info.value.hint and "export" in info.value.hint


def test_rebuild_command_is_shell_quoted(tmp_path):
    from vggdeploy.backends.tensorrt.build import _command

    opts = {
        "min_batch": 1,
        "opt_batch": 8,
        "max_batch": 16,
        "workspace": None,
        "opt_level": None,
        "version_compatible": False,
        "hardware_compat": "none",
        "allow_fallback": True,
    }
    given, out = tmp_path / "my run" / "model.onnx", tmp_path / "it's here" / "m.engine"
    words = shlex.split(_command(given, "fp16", out, opts, None))
    assert words[:4] == ["vggdeploy", "build-engine", str(given), "--fp16"]
    assert words[-3:] == ["--allow-fallback", "-o", str(out)]
