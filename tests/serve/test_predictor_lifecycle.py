"""Issue 19 class 9: a closed Predictor refuses clearly on every backend, and ``--backend`` on a
run folder opens that backend's artifact in it (or says it is missing and how to make it).

Both failed on the main of 2026-12-02: predict after close() raised a raw AttributeError
(onnxruntime) or an exit-1 VggDeployError (torch); ``--backend onnxruntime RUN`` said
"ONNX model not found: 'RUN'" although RUN/model.onnx was there.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import export_fp32

from vggdeploy.backends.registry import BACKENDS
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.serve.predictor import load

from conftest import make_images


def _artifact(kind: str, run: Path, request: pytest.FixtureRequest) -> Path:
    """A real artifact of backend ``kind`` made from ``run`` (skips where it cannot be made)."""
    if kind == "torch":
        return run
    if kind == "onnxruntime":
        return export_fp32(run)
    if kind == "inductor":
        return request.getfixturevalue("tiny_pt2")
    if kind == "tensorrt":
        if importlib.util.find_spec("tensorrt") is None:
            pytest.skip("TensorRT is not installed")
        export_fp32(run)
        out = run / "tiny.engine"
        assert main(["build-engine", str(run / "model.onnx"), "-o", str(out)]) == 0
        return out
    if kind == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is not installed (the openvino extra)")
        export_fp32(run)
        data = str(request.getfixturevalue("fake_data"))
        assert main(["build-engine", str(run), "--backend", "openvino", "--data-dir", data]) == 0
        (xml,) = BACKENDS["openvino"].discover(run)
        return xml
    pytest.fail(f"no artifact recipe for the registry's backend {kind!r}: add one here")


CLOSE_KINDS = [
    pytest.param(kind, marks=[pytest.mark.gpu] if info.needs_cuda else [], id=kind)
    for kind, info in BACKENDS.items()
]


@pytest.mark.parametrize("kind", CLOSE_KINDS)
def test_predict_after_close_says_the_model_is_closed(kind, tiny_run, request) -> None:
    path = _artifact(kind, tiny_run, request)
    images = make_images(2, seed=1)[0]
    with load(path) as predictor:
        assert predictor.backend == kind
        assert predictor.predict(images).class_ids.shape == (2,)
    for call in (
        lambda: predictor.predict(images),
        lambda: predictor.logits(np.zeros((1, 1, 32, 32), np.float32)),
    ):
        with pytest.raises(UsageError, match="the model is closed") as info:
            call()
        assert info.value.exit_code == 2 and "vggdeploy.load" in info.value.hint
    assert predictor.closed
    predictor.close()  # closing twice is harmless


def test_backend_onnxruntime_on_a_run_folder_opens_its_model_onnx(tiny_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", make_images(3, seed=2)[0][:2])
    code = main(["predict", str(tiny_run), str(tmp_path / "x.npy"), "--backend", "onnxruntime"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "model.onnx is missing" in err and f"vggdeploy export {tiny_run}" in err
    with pytest.raises(ArtifactError, match="model.onnx is missing"):
        load(tiny_run, backend="onnxruntime")

    onnx = export_fp32(tiny_run)
    argv = ["predict", str(tiny_run), str(tmp_path / "x.npy"), "--json"]
    assert main([*argv, "--backend", "onnxruntime"]) == 0
    by_onnx = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    by_torch = json.loads(capsys.readouterr().out)
    assert [r["class_id"] for r in by_onnx] == [r["class_id"] for r in by_torch]
    with load(tiny_run, backend="onnxruntime") as predictor:
        assert predictor.backend == "onnxruntime" and predictor.runner.source == onnx


def test_backend_on_a_run_folder_never_swaps_in_a_variant(tiny_run: Path) -> None:
    """Only model.fp16.onnx present: --backend onnxruntime does not silently open it."""
    fp32 = export_fp32(tiny_run)
    shutil.move(fp32, tiny_run / "model.fp16.onnx")
    with pytest.raises(ArtifactError, match="model.onnx is missing") as info:
        load(tiny_run, backend="onnxruntime")
    assert "model.fp16.onnx" in info.value.hint


def test_backend_on_a_run_folder_with_two_packages_is_ambiguous(tiny_run: Path) -> None:
    for name in ("a.pt2", "b.pt2"):
        (tiny_run / name).write_bytes(b"x")
    with pytest.raises(UsageError, match="holds 2 inductor artifacts") as info:
        load(tiny_run, backend="inductor")
    assert "a.pt2" in info.value.message and "b.pt2" in info.value.message
    for name in ("a.pt2", "b.pt2"):
        (tiny_run / name).unlink()
    with pytest.raises(ArtifactError, match="no inductor model") as info:
        load(tiny_run, backend="inductor")
    assert "build-engine" in info.value.hint
