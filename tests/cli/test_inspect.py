"""`vggdeploy inspect`: ONNX description, delegation to backend inspectors, bad files."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from vggdeploy.backends.inspection import describe
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError
from vggdeploy.export.pipeline import export_onnx


@pytest.fixture(scope="module")
def onnx_file(_trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    run = tmp_path_factory.mktemp("inspect") / "run"
    shutil.copytree(_trained_run, run)
    return export_onnx(run, verify=False, simplify=False).path


def test_describe_onnx(onnx_file):
    info = describe(onnx_file)
    assert info["type"] == "onnx" and info["opset"]["ai.onnx"] == 20
    assert info["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["batch", 1, 32, 32]}]
    assert info["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}]
    assert info["ops"]["Conv"] == 8 and info["ops"]["Gemm"] == 2
    assert info["spec"]["preset"] == "vgg-mini"
    assert info["metadata"]["vggdeploy.precision"] == "fp32"
    assert "torch" in info["metadata"]["versions"]


def test_cli_prints_spec_io_and_ops(onnx_file, capsys):
    assert main(["inspect", str(onnx_file)]) == 0
    out = capsys.readouterr().out
    for needle in ("vgg-mini", "name=input", "name=logits", "Conv: 8", "ai.onnx: 20", "Ankle boot"):
        assert needle in out
    assert main(["inspect", str(onnx_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] > 0


@pytest.mark.parametrize(
    "content", [b"", b"hello, not a model", b"\x08\x07" + bytes(range(256)) * 4]
)
def test_corrupt_onnx(tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ArtifactError):
        describe(bad)
    assert main(["inspect", str(bad)]) == ArtifactError.exit_code


def test_truncated_onnx(onnx_file, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_file.read_bytes()[:5000])
    assert main(["inspect", str(cut)]) == ArtifactError.exit_code


def test_missing_and_unknown_files(tmp_path):
    assert main(["inspect", str(tmp_path / "none.onnx")]) == ArtifactError.exit_code
    other = tmp_path / "notes.txt"
    other.write_text("hi")
    with pytest.raises(ArtifactError, match="suffix"):
        describe(other)


@pytest.mark.parametrize("suffix", [".engine", ".plan", ".engine.json"])
def test_engine_delegates_to_its_registry_entry(tmp_path, monkeypatch, capsys, suffix):
    from dataclasses import replace

    from vggdeploy.backends.registry import BACKENDS

    fake = types.ModuleType("vggdeploy_fake_trt")
    seen = []
    fake.inspect_engine = lambda path: seen.append(path) or {"type": "engine", "layers": 12}
    monkeypatch.setitem(sys.modules, "vggdeploy_fake_trt", fake)
    entry = replace(BACKENDS["tensorrt"], describe="vggdeploy_fake_trt:inspect_engine")
    monkeypatch.setitem(BACKENDS, "tensorrt", entry)
    f = tmp_path / f"m{suffix}"
    f.write_bytes(b"x")
    engine = tmp_path / ("m.engine" if suffix == ".engine.json" else f"m{suffix}")
    assert main(["inspect", str(f)]) == 0
    assert seen == [engine] and "layers: 12" in capsys.readouterr().out


def test_files_no_backend_describes_are_artifact_errors(tmp_path):
    weights = tmp_path / "model.safetensors"  # torch's, but torch has no describer
    weights.write_bytes(b"x")
    with pytest.raises(ArtifactError, match="not a vggdeploy artifact") as info:
        describe(weights)
    assert ".onnx" in (info.value.hint or "") and ".pt2" in (info.value.hint or "")
