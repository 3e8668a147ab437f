"""load()/predict and triton-repo refuse an artifact made from another checkpoint (exit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_artifacts import engine_from, export_fp32, make_variant, reexport, retrain

import vggdeploy
from vggdeploy.errors import ArtifactError
from vggdeploy.serve.triton import build_triton_repo

from conftest import make_images


@pytest.fixture
def stale_run(tiny_run: Path) -> Path:
    """model.onnx exported, then the checkpoint replaced by another training."""
    export_fp32(tiny_run)
    retrain(tiny_run)
    return tiny_run


def test_load_refuses_an_onnx_older_than_its_checkpoint(stale_run: Path) -> None:
    with pytest.raises(ArtifactError) as err:
        vggdeploy.load(stale_run / "model.onnx")  # before: loaded, answered for the old weights
    assert err.value.exit_code == 4
    assert "stale" in err.value.message and "model.safetensors" in err.value.message
    assert "re-export: vggdeploy export" in err.value.hint


def test_the_run_folder_itself_still_loads(stale_run: Path) -> None:
    images, _ = make_images(2, seed=5)
    with vggdeploy.load(stale_run) as predictor:  # the checkpoint: fresh by definition
        assert predictor.predict(images).class_ids.shape == (2,)


def test_load_refuses_a_variant_whose_model_onnx_was_reexported(tiny_run: Path) -> None:
    export_fp32(tiny_run)
    variant = make_variant(tiny_run, "fp16")
    vggdeploy.load(variant).close()  # fresh: loads
    reexport(tiny_run / "model.onnx")
    with pytest.raises(ArtifactError, match="stale"):
        vggdeploy.load(variant)


def test_load_refuses_a_stale_engine_before_tensorrt_is_needed(tiny_run: Path) -> None:
    export_fp32(tiny_run)
    engine = engine_from(tiny_run / "model.onnx", tiny_run / "engines" / "tiny.fp32.engine")
    retrain(tiny_run)
    with pytest.raises(ArtifactError) as err:  # before: exit 5 (no TensorRT) or served old weights
        vggdeploy.load(engine)
    assert "rebuild the engine" in err.value.hint


def test_triton_repo_refuses_a_stale_onnx(stale_run: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(ArtifactError) as err:  # before: shipped the old ONNX
        build_triton_repo(stale_run, repo)
    assert "stale" in err.value.message and "re-export" in err.value.hint
    assert not repo.exists()
    with pytest.raises(ArtifactError, match="stale"):
        build_triton_repo(stale_run / "model.onnx", repo)


def test_triton_repo_refuses_a_stale_engine(tiny_run: Path, tmp_path: Path) -> None:
    export_fp32(tiny_run)
    engine = engine_from(tiny_run / "model.onnx", tiny_run / "engines" / "tiny.fp32.engine")
    reexport(tiny_run / "model.onnx")  # model.onnx is fresh again, the engine is not
    with pytest.raises(ArtifactError, match="stale") as err:
        build_triton_repo(tiny_run, tmp_path / "repo", onnx=None, engine=engine)
    assert "rebuild the engine" in err.value.hint
