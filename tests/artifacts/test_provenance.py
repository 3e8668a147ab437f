"""vggdeploy.artifacts.provenance: recorded source hashes compared with the files of the
artifact's run."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import onnx
import pytest
from onnx_artifacts import engine_from, export_fp32, make_variant, reexport, retrain

from vggdeploy.artifacts.onnx_meta import META_SOURCE_ONNX
from vggdeploy.backends.freshness import check_fresh, verdict
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.errors import ArtifactError


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def onnx_run(tiny_run: Path) -> Path:
    export_fp32(tiny_run)
    return tiny_run


def test_every_backend_says_what_its_artifacts_record() -> None:
    # a backend without a hook would leave its artifacts 'unknown' forever
    assert all(info.provenance for info in BACKENDS.values())


def test_fresh_onnx_and_run_folder(onnx_run: Path) -> None:
    v = verdict(onnx_run / "model.onnx")
    assert v.state == "fresh", v.reason
    assert str(onnx_run / "model.safetensors") in v.checked
    assert verdict(onnx_run).state == "fresh"  # the checkpoint itself
    assert verdict(onnx_run / "model.json").state == "fresh"


def test_onnx_older_than_the_checkpoint_beside_it_is_stale(onnx_run: Path) -> None:
    old = _sha(onnx_run / "model.safetensors")
    new = retrain(onnx_run)
    v = verdict(onnx_run / "model.onnx")
    assert v.state == "stale"
    assert old[:12] in v.reason and new[:12] in v.reason and "model.safetensors" in v.reason
    with pytest.raises(ArtifactError) as err:
        check_fresh(onnx_run / "model.onnx")
    assert err.value.exit_code == 4
    assert "stale" in err.value.message
    assert err.value.hint == f"re-export: {shlex.join(['vggdeploy', 'export', str(onnx_run)])}"


def test_onnx_copied_alone_is_unknown_and_allowed(onnx_run: Path, tmp_path: Path) -> None:
    alone = tmp_path / "elsewhere" / "model.onnx"
    alone.parent.mkdir()
    shutil.copy(onnx_run / "model.onnx", alone)
    v = check_fresh(alone)  # no raise
    assert v.state == "unknown" and "no checkpoint" in v.reason


def test_an_explicit_run_is_the_reference(onnx_run: Path, tmp_path: Path) -> None:
    """Bench passes its run: an ONNX of another training is stale against it."""
    other = tmp_path / "other"
    shutil.copytree(onnx_run, other)
    retrain(other)
    assert verdict(onnx_run / "model.onnx", run=other).state == "stale"
    assert verdict(onnx_run / "model.onnx", run=onnx_run).state == "fresh"


def test_variant_records_its_model_onnx_and_is_stale_after_a_reexport(
    exported_variants: dict, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(exported_variants["fp32"].path.parent, run)
    for tag in ("fp16", "int8", "int8-cpu"):
        variant = run / exported_variants[tag].path.name
        props = {p.key: p.value for p in onnx.load(str(variant)).metadata_props}
        assert props[META_SOURCE_ONNX] == _sha(run / "model.onnx")  # written by the stage
        assert verdict(variant).state == "fresh"
    reexport(run / "model.onnx")
    assert verdict(run / "model.onnx").state == "fresh"  # same checkpoint
    v = verdict(run / "model.fp16.onnx")
    assert v.state == "stale" and "model.onnx" in v.reason
    with pytest.raises(ArtifactError) as err:
        check_fresh(run / "model.int8.onnx")
    assert err.value.hint.endswith(f"export {shlex.quote(str(run))} --precision int8")


def test_variant_is_stale_when_the_checkpoint_changed(onnx_run: Path) -> None:
    variant = make_variant(onnx_run, "fp16")
    assert verdict(variant).state == "fresh"
    retrain(onnx_run)
    assert verdict(variant).state == "stale"


def test_engine_in_the_run_checks_its_source_onnx_and_the_checkpoint(onnx_run: Path) -> None:
    engine = engine_from(onnx_run / "model.onnx", onnx_run / "engines" / "tiny.fp32.engine")
    v = verdict(engine)
    assert v.state == "fresh", v.reason
    assert set(v.checked) == {str(onnx_run / "model.safetensors"), str(onnx_run / "model.onnx")}
    reexport(onnx_run / "model.onnx")  # the ONNX it was built from is gone
    v = verdict(engine)
    assert v.state == "stale" and "model.onnx" in v.reason
    with pytest.raises(ArtifactError) as err:
        check_fresh(engine)
    assert "rebuild the engine: vggdeploy build-engine" in err.value.hint


def test_engine_is_stale_when_the_checkpoint_changed(onnx_run: Path) -> None:
    engine = engine_from(onnx_run / "model.onnx", onnx_run / "tiny.engine")
    retrain(onnx_run)
    v = verdict(engine)
    assert v.state == "stale" and "checkpoint sha256" in v.reason


def test_engine_outside_any_run_is_unknown(onnx_run: Path, tmp_path: Path) -> None:
    engine = engine_from(onnx_run / "model.onnx", tmp_path / "engines" / "tiny.engine")
    assert verdict(engine).state == "unknown"
    # given its run, it is checked
    assert verdict(engine, run=onnx_run).state == "fresh"


def test_unreadable_artifact_is_unknown_not_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    assert verdict(bad).state == "unknown"
    assert verdict(tmp_path / "x.unknown-suffix").state == "unknown"


def test_inductor_package_checks_its_weights(onnx_run: Path, monkeypatch) -> None:
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.backends import inductor

    sha = _sha(onnx_run / "model.safetensors")
    meta = {
        inductor.SPEC_KEY: read_spec(onnx_run).to_json(),
        inductor.PACKAGE_KEY: json.dumps({"checkpoint_weights_sha256": sha, "device": "cpu"}),
    }
    monkeypatch.setattr(inductor, "_package_metadata", lambda path: meta)
    package = onnx_run / "engines" / "tiny.cpu.pt2"
    package.parent.mkdir()
    package.write_bytes(b"stand-in package")
    assert verdict(package).state == "fresh"
    retrain(onnx_run)
    with pytest.raises(ArtifactError) as err:
        check_fresh(package)
    assert err.value.hint.startswith("rebuild the package: vggdeploy build-engine")
    assert "--backend inductor" in err.value.hint


def test_precision_stage_reexports_a_stale_model_onnx(onnx_run: Path, fake_data: Path) -> None:
    """The stage asks the same comparison (provenance.mismatch): its reason names both hashes."""
    from vggdeploy.artifacts.checkpoint import read_checkpoint
    from vggdeploy.export.pipeline import current_fp32

    (onnx_run / "model.report.json").write_text(
        json.dumps({"written": True, "sha256": _sha(onnx_run / "model.onnx")})
    )
    old = _sha(onnx_run / "model.safetensors")
    retrain(onnx_run)
    ckpt = read_checkpoint(onnx_run)
    reason = current_fp32(onnx_run / "model.onnx", ckpt, {})
    assert isinstance(reason, str)
    assert old[:12] in reason and ckpt.weights_sha256[:12] in reason
