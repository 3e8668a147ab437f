"""`vggdeploy triton-repo`: every generated config.pbtxt is parsed with Triton's own ModelConfig
proto (tritonclient) and its fields checked; plus the repository rules (markers, --force, sidecar).

TensorRT is not installed here, so the engine is a stand-in byte string with a sidecar in the real
schema (backends/tensorrt/sidecar.py); the repository writer only copies the plan and reads the
verified sidecar, it never deserializes the engine.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
from engine_fakes import stand_in_engine
from google.protobuf import text_format  # tritonclient[grpc] is a dev extra (scripts/setup.sh)
from onnx_artifacts import export_fp32 as export_onnx
from tritonclient.grpc import model_config_pb2

from vggdeploy.artifacts.checkpoint import read_spec
from vggdeploy.artifacts.onnx_meta import set_spec_metadata
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.serve.triton import MARKER, build_triton_repo


def parse_config(folder: Path):
    config = model_config_pb2.ModelConfig()
    text_format.Parse((folder / "config.pbtxt").read_text(), config)
    return config


@pytest.fixture(scope="module")
def exported_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("triton") / "mini"
    shutil.copytree(_trained_run, run)
    export_onnx(run, run / "model.onnx")
    return run


@pytest.fixture
def run(exported_run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "mini"
    shutil.copytree(exported_run, dst)
    return dst


def fake_engine(run: Path, path: Path, *, max_batch: int = 32, min_batch: int = 1) -> Path:
    """A stand-in plan with a sidecar from the real constructor (tests/engine_fakes.py)."""
    return stand_in_engine(path, read_spec(run), max_batch=max_batch, min_batch=min_batch)


def test_onnx_model_config(run: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    [folder] = build_triton_repo(run, repo)
    assert folder == repo / "mini"
    cfg = parse_config(folder)
    assert cfg.name == "mini" and cfg.platform == "onnxruntime_onnx"
    assert cfg.max_batch_size == 64 and cfg.default_model_filename == "model.onnx"
    [inp], [out] = cfg.input, cfg.output
    assert inp.name == "input" and list(inp.dims) == [1, 32, 32]  # batch dim excluded
    assert inp.data_type == model_config_pb2.TYPE_FP32
    assert out.name == "logits" and list(out.dims) == [10] and out.label_filename == "labels.txt"
    assert out.data_type == model_config_pb2.TYPE_FP32
    assert list(cfg.dynamic_batching.preferred_batch_size) == [32, 64]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 100
    [group] = cfg.instance_group
    assert group.count == 1 and group.kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO
    assert cfg.version_policy.latest.num_versions == 1
    assert (folder / "1" / "model.onnx").read_bytes() == (run / "model.onnx").read_bytes()
    labels = (folder / "labels.txt").read_text().splitlines()
    assert labels == list(read_spec(run).class_names)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["fingerprint"] == read_spec(run).fingerprint()
    assert not [p for p in repo.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_onnx_and_tensorrt_models(run: Path, tmp_path: Path) -> None:
    engine = fake_engine(run, tmp_path / "mini.fp16.engine", max_batch=32)
    repo = tmp_path / "repo"
    folders = build_triton_repo(
        run,
        repo,
        name="fmnist",
        onnx=run / "model.onnx",
        engine=engine,
        instances=2,
        kind="gpu",
        preferred_batch_sizes=(4, 16),
        max_queue_delay_us=500,
    )
    assert [f.name for f in folders] == ["fmnist", "fmnist_trt"]
    onnx_cfg, trt_cfg = (parse_config(f) for f in folders)
    assert onnx_cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert trt_cfg.platform == "tensorrt_plan" and trt_cfg.max_batch_size == 32  # the profile
    assert trt_cfg.default_model_filename == "model.plan"
    assert list(trt_cfg.input[0].dims) == [1, 32, 32] and list(trt_cfg.output[0].dims) == [10]
    assert list(trt_cfg.dynamic_batching.preferred_batch_size) == [4, 16]
    assert trt_cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert trt_cfg.instance_group[0].count == 2
    assert trt_cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert (folders[1] / "1" / "model.plan").read_bytes() == engine.read_bytes()
    # engine alone, named after the file; --max-batch below the profile is allowed
    [only] = build_triton_repo(engine, tmp_path / "repo2", max_batch=16)
    assert only.name == "mini_fp16" and parse_config(only).max_batch_size == 16


def test_existing_different_model_needs_force(run: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    build_triton_repo(run, repo)
    build_triton_repo(run, repo)  # the same model again: fine (idempotent)
    other = tmp_path / "other.onnx"
    proto = onnx.load(str(run / "model.onnx"))
    spec = read_spec(run)
    set_spec_metadata(proto, replace(spec, class_names=tuple(f"c{i}" for i in range(10))))
    onnx.save(proto, str(other))
    with pytest.raises(UsageError, match="already holds a different model") as info:
        build_triton_repo(other, repo, name="mini")
    assert "--force" in info.value.hint
    assert parse_config(repo / "mini").name == "mini"  # untouched
    [folder] = build_triton_repo(other, repo, name="mini", force=True)
    assert (folder / "labels.txt").read_text().splitlines()[0] == "c0"
    # same network, other weights: a different model file is also refused
    retrained = tmp_path / "retrained.onnx"
    proto = onnx.load(str(other))
    proto.graph.initializer[0].raw_data = bytes(len(proto.graph.initializer[0].raw_data))
    onnx.save(proto, str(retrained))
    with pytest.raises(UsageError, match="sha256 differs"):
        build_triton_repo(retrained, repo, name="mini")
    foreign = repo / "theirs"
    foreign.mkdir()
    (foreign / "config.pbtxt").write_text('name: "theirs"')
    with pytest.raises(UsageError, match="did not write"):
        build_triton_repo(run, repo, name="theirs")


def test_engine_problems(run: Path, tmp_path: Path) -> None:
    engine = fake_engine(run, tmp_path / "mini.engine", max_batch=32)
    with pytest.raises(UsageError, match="exceeds the engine profile's maximum 32"):
        build_triton_repo(engine, tmp_path / "r", max_batch=64)
    with pytest.raises(UsageError, match="GPUs only"):
        build_triton_repo(engine, tmp_path / "r", kind="cpu")
    with pytest.raises(UsageError, match="outside 1..max_batch"):
        build_triton_repo(engine, tmp_path / "r", preferred_batch_sizes=(8, 64))
    plan = engine.read_bytes()
    engine.write_bytes(plan[:-3])
    with pytest.raises(ArtifactError, match="is truncated"):
        build_triton_repo(engine, tmp_path / "r")
    engine.write_bytes(plan[:-3] + b"xyz")  # replaced: same size, other bytes
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        build_triton_repo(engine, tmp_path / "r")
    lonely = tmp_path / "lonely.engine"
    lonely.write_bytes(b"plan")
    with pytest.raises(ArtifactError, match="sidecar not found"):
        build_triton_repo(lonely, tmp_path / "r")
    # an engine built from another model than the run
    other = fake_engine(run, tmp_path / "other.engine")
    side = json.loads((tmp_path / "other.engine.json").read_text())
    side["model_spec"]["num_classes"] = 5
    side["model_spec"]["class_names"] = ["a", "b", "c", "d", "e"]
    (tmp_path / "other.engine.json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="different models"):
        build_triton_repo(run, tmp_path / "r", engine=other)
    assert not (tmp_path / "r" / "mini").exists()


def test_fixed_batch_onnx_and_missing_export(run: Path, tmp_path: Path) -> None:
    proto = onnx.load(str(run / "model.onnx"))
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(proto, str(tmp_path / "fixed.onnx"))
    with pytest.raises(ArtifactError, match="fixed batch size 1"):
        build_triton_repo(tmp_path / "fixed.onnx", tmp_path / "r")
    (run / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match="no model.onnx"):
        build_triton_repo(run, tmp_path / "r")


def test_cli_triton_repo(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    args = ["triton-repo", str(run), "-o", str(repo), "--preferred-batch-sizes", "8,16"]
    assert main([*args, "--instances", "3", "--kind", "cpu"]) == 0
    assert "config.pbtxt" in capsys.readouterr().out
    cfg = parse_config(repo / "mini")
    assert list(cfg.dynamic_batching.preferred_batch_size) == [8, 16]
    assert cfg.instance_group[0].count == 3
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert main(["triton-repo", str(run), "-o", str(repo), "--name", "bad name"]) == 2
    assert "not a valid Triton model name" in capsys.readouterr().err
