"""`vggdeploy export` (FP32): dynamic batch, metadata, verification, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from vggdeploy._io import sha256_file
from vggdeploy.artifacts.checkpoint import load_checkpoint
from vggdeploy.artifacts.onnx_meta import read_onnx_spec
from vggdeploy.backends.base import open_runner
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, DataError, OutputError, UsageError, VerificationError
from vggdeploy.export.pipeline import export_onnx
from vggdeploy.export.verify import (
    compare_runners,
    load_test_split,
    raise_if_failed,
    verification_inputs,
)


@pytest.fixture(scope="module")
def exported(_trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """One real export of the tiny run (module-scoped: the exporter takes seconds)."""
    run = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(_trained_run, run)
    return export_onnx(run, data_dir=fake_data)


def _no_partial_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers


def test_writes_model_and_report(exported):
    run = exported.path.parent
    assert exported.path == run / "model.onnx"
    report = json.loads(exported.report_path.read_text())
    assert report["written"] is True
    assert report["opset"] == 20
    assert [b["batch"] for b in report["verification"]["batches"]] == [1, 7, 64]
    assert report["verification"]["passed"] is True
    assert report["verification"]["max_abs"] <= 1e-4
    assert report["sha256"] == sha256_file(exported.path)
    _no_partial_files(run)


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_dynamic_batch(exported, batch):
    x = np.random.default_rng(batch).normal(size=(batch, 1, 32, 32)).astype(np.float32)
    with (
        open_runner("onnxruntime", exported.path) as ort,
        open_runner("torch", exported.path.parent) as pt,
    ):
        out = ort.infer(x)
        ref = pt.infer(x)
    assert out.shape == (batch, 10)
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-3)


def test_symbolic_batch_and_names(exported):
    m = onnx.load(str(exported.path))
    (inp,) = m.graph.input
    (out,) = m.graph.output
    assert inp.name == "input" and out.name == "logits"
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [1, 32, 32]
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    onnx.checker.check_model(m, full_check=True)


def test_metadata_round_trip(exported):
    run = exported.path.parent
    _, spec = load_checkpoint(run)
    embedded = read_onnx_spec(exported.path)
    assert embedded.fingerprint() == spec.fingerprint()
    assert embedded.class_names == spec.class_names
    props = {p.key: p.value for p in onnx.load(str(exported.path)).metadata_props}
    assert props["vggdeploy.checkpoint_sha256"] == sha256_file(run / "model.safetensors")
    assert props["vggdeploy.precision"] == "fp32"
    assert props["vggdeploy.max_batch"] == "64"
    versions = json.loads(props["vggdeploy.versions"])
    assert {"vggdeploy", "torch", "onnx", "onnxruntime"} <= set(versions)


def _perturbed(path: Path) -> onnx.ModelProto:
    m = onnx.load(str(path))
    bias = next(i for i in m.graph.initializer if i.name.endswith("classifier.3.bias"))
    arr = onnx.numpy_helper.to_array(bias).copy()
    arr[3] += 0.01  # one logit moves by 1e-2: far beyond atol 1e-4
    bias.CopyFrom(onnx.numpy_helper.from_array(arr, bias.name))
    return m


def test_verification_fails_on_perturbed_model(exported, fake_data):
    model, spec = load_checkpoint(exported.path.parent)
    inputs = verification_inputs(spec, load_test_split(fake_data).images, 8)
    with (
        open_runner("onnxruntime", _perturbed(exported.path)) as candidate,
        open_runner("torch", (model, spec)) as reference,
    ):
        result = compare_runners(
            candidate, reference, inputs, batch_sizes=[1, 7], atol=1e-4, rtol=1e-3
        )
    assert result["passed"] is False
    assert result["max_abs"] == pytest.approx(0.01, rel=1e-3)
    with pytest.raises(VerificationError, match="beyond tolerance"):
        raise_if_failed(result, label="model.onnx", report_path=Path("r.json"))


def test_export_refuses_to_write_perturbed_model(exported, tiny_run, fake_data, monkeypatch):
    bad = _perturbed(exported.path)
    monkeypatch.setattr("vggdeploy.export.onnx.to_onnx", lambda *a, **k: (bad, "test"))
    code = main(["export", str(tiny_run), "--data-dir", str(fake_data), "--no-simplify"])
    assert code == VerificationError.exit_code
    assert not (tiny_run / "model.onnx").exists()
    report = json.loads((tiny_run / "model.report.json").read_text())
    assert report["written"] is False and report["verification"]["passed"] is False
    _no_partial_files(tiny_run)


# ---- bad input --------------------------------------------------------------------------------
def test_missing_checkpoint(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        export_onnx(tmp_path / "nope")
    assert main(["export", str(tmp_path / "nope")]) == ArtifactError.exit_code


def test_corrupt_weights(tiny_run, fake_data):
    (tiny_run / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ArtifactError):
        export_onnx(tiny_run, data_dir=fake_data)
    assert not (tiny_run / "model.onnx").exists()


def test_corrupt_modelspec(tiny_run, fake_data):
    (tiny_run / "model.json").write_text("{not json")
    assert main(["export", str(tiny_run), "--data-dir", str(fake_data)]) == 4
    (tiny_run / "model.json").write_text(json.dumps({"format": "vggdeploy.modelspec"}))
    with pytest.raises(ArtifactError, match="ModelSpec"):
        export_onnx(tiny_run, data_dir=fake_data)
    assert not (tiny_run / "model.onnx").exists()


@pytest.mark.parametrize("opset", [3, 29, 99])
def test_opset_out_of_range(tiny_run, opset):
    with pytest.raises(UsageError, match="opset"):
        export_onnx(tiny_run, opset=opset)
    assert main(["export", str(tiny_run), "--opset", str(opset)]) == UsageError.exit_code


def test_opset_the_exporter_silently_changes(tiny_run, fake_data, exported, monkeypatch):
    """The torch exporter returns opset 18 for opsets it cannot convert to; that is an error."""
    import torch

    produced = onnx.load(str(exported.path))
    produced.opset_import[0].version = 18

    class Program:
        model_proto = produced

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: Program())
    with pytest.raises(UsageError, match="cannot produce opset 26"):
        export_onnx(tiny_run, opset=26, data_dir=fake_data)
    assert not (tiny_run / "model.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("opset", [13, 17])
def test_older_opsets_fall_back_and_verify(tiny_run, fake_data, opset):
    """13: the dynamo exporter cannot down-convert, the TorchScript one is used; 17: converted."""
    result = export_onnx(tiny_run, opset=opset, data_dir=fake_data, simplify=False)
    m = onnx.load(str(result.path))
    assert next(o.version for o in m.opset_import if o.domain == "") == opset
    assert result.report["verification"]["passed"]
    assert result.report["exporter"].endswith("(dynamo=False)" if opset == 13 else "(dynamo=True)")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_batch_below_one(tiny_run, value):
    assert main(["export", str(tiny_run), "--max-batch", value]) == UsageError.exit_code
    with pytest.raises(UsageError, match="max-batch"):
        export_onnx(tiny_run, max_batch=int(value))


def test_unwritable_output(tiny_run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        export_onnx(tiny_run, blocker / "sub")
    assert main(["export", str(tiny_run), "-o", str(blocker / "sub")]) == OutputError.exit_code


def test_verification_data_missing(tiny_run, tmp_path, exported, monkeypatch):
    monkeypatch.setattr(
        "vggdeploy.export.onnx.to_onnx", lambda *a, **k: (onnx.load(str(exported.path)), "test")
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="test split"):
        export_onnx(tiny_run, data_dir=empty, simplify=False)
    assert not (tiny_run / "model.onnx").exists()


def test_no_verify_needs_no_data(tiny_run, tmp_path, exported, monkeypatch):
    monkeypatch.setattr(
        "vggdeploy.export.onnx.to_onnx", lambda *a, **k: (onnx.load(str(exported.path)), "test")
    )
    result = export_onnx(tiny_run, verify=False, data_dir=tmp_path / "none", simplify=False)
    assert result.path.is_file() and result.report["verification"] is None
