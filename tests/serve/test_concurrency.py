"""One Predictor shared by 8 threads x 500 requests: no errors, results equal serial calls.

The network is a micro VGG (2 blocks of 4/8 channels, random weights) saved as a normal checkpoint:
what is tested is the sharing, not the accuracy, and a small network keeps 4,500 calls fast.
Runs on the torch-eager test double always, and on the real torch / onnxruntime runners once their
modules are merged (skipped with the reason until then).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import export_fp32 as export_onnx
from serve_doubles import CheckpointDouble, register

from vggdeploy.artifacts.checkpoint import save_checkpoint
from vggdeploy.models import build_model, make_spec
from vggdeploy.serve.predictor import Predictor, load
from vggdeploy.spec import Architecture

from conftest import make_images

THREADS = 8
REQUESTS = 500


def hammer(predictor: Predictor, images: np.ndarray) -> None:
    serial = [predictor.predict(images[i]) for i in range(len(images))]
    errors: list[BaseException] = []
    mismatches: list[tuple[int, int]] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        try:
            start.wait()
            for r in range(REQUESTS):
                i = (r * 7 + t * 13) % len(images)  # threads interleave different images
                got = predictor.predict(images[i])
                want = serial[i]
                if got.class_ids[0] != want.class_ids[0] or not np.allclose(
                    got.probabilities, want.probabilities, rtol=1e-5, atol=1e-7
                ):
                    mismatches.append((t, i))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"{len(errors)} threads failed, first: {errors[0]!r}"
    assert not mismatches, f"{len(mismatches)} results differ from serial, e.g. {mismatches[:3]}"


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return make_images(REQUESTS, seed=11)[0]


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    arch = Architecture(conv_arch=((1, 4), (1, 8)), batch_norm=True, classifier=(16,))
    spec = replace(make_spec("vgg-mini"), preset="micro-test", arch=arch).validate()
    return save_checkpoint(tmp_path_factory.mktemp("micro"), build_model(spec).eval(), spec)


def test_concurrent_requests_torch_double(monkeypatch, micro_run: Path, images) -> None:
    register(monkeypatch, "torch", CheckpointDouble)
    with load(micro_run) as predictor:
        assert predictor.thread_safe  # torch eager runs unlocked: the test exercises real overlap
        hammer(predictor, images)


@pytest.mark.parametrize("kind", ["torch", "onnxruntime"])
def test_concurrent_requests_real_backend(kind, micro_run: Path, tmp_path: Path, images) -> None:
    path = micro_run if kind == "torch" else export_onnx(micro_run, tmp_path / "model.onnx")
    with load(path) as predictor:
        assert predictor.backend == kind
        hammer(predictor, images)
