"""`vggdeploy serve model.onnx`: an ONNX artifact served (named after its run folder), answers equal
to the in-process Predictor on the same file, and staleness judged while serving: once the run's
checkpoint changes, the ONNX model is no longer what the run makes and requests are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytriton", reason="the serve extra: pip install 'vggdeploy[serve]'")
pytest.importorskip("tritonclient.grpc")
from onnx_artifacts import export_fp32  # noqa: E402
from server_helpers import (  # noqa: E402
    assert_still_serving,
    copy_model,
    expect_refused,
    fashion_test_images,
    infer,
    png_bytes,
    running_server,
)

from vggdeploy.serve.predictor import load  # noqa: E402


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = copy_model(tmp_path_factory.mktemp("onnx") / "fmnist-default")
    return export_fp32(run)


@pytest.fixture(scope="module")
def server(onnx_model: Path):
    with running_server(onnx_model) as proc:
        yield proc


def test_onnx_artifact_is_served_like_the_predictor(server, onnx_model) -> None:
    images = fashion_test_images(16)
    pngs = [png_bytes(im) for im in images]
    with load(onnx_model) as predictor:
        assert predictor.backend == "onnxruntime"
        want = predictor.predict(pngs)
    assert "on onnxruntime" in server.text()
    for protocol in ("http", "grpc"):
        got = infer(server, protocol, image=pngs)  # served as 'fmnist-default' (its run folder)
        np.testing.assert_array_equal(got["class_id"][:, 0], want.class_ids)
        np.testing.assert_allclose(got["logits"], want.logits, rtol=0, atol=1e-5)


def test_changed_checkpoint_makes_the_served_onnx_stale(server, onnx_model) -> None:
    images = fashion_test_images(4)
    weights = onnx_model.parent / "model.safetensors"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-4] + b"\1\1\1\1")  # the run's checkpoint moved on
        for protocol in ("http", "grpc"):
            expect_refused(server, protocol, {"image": [png_bytes(images[0])]}, "stale artifact")
    finally:
        weights.write_bytes(original)
    with load(onnx_model) as predictor:
        for protocol in ("http", "grpc"):
            assert_still_serving(server, protocol, predictor, images)
