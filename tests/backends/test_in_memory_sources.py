"""Runner sources: a path, or an in-memory model (ONNX bytes / ModelProto for ONNX Runtime; the
(model, spec) pair load_checkpoint returns for PyTorch) give the same logits."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from vggdeploy.artifacts.checkpoint import load_checkpoint
from vggdeploy.backends.base import IN_MEMORY, open_runner
from vggdeploy.errors import ArtifactError, UsageError


@pytest.fixture
def fp32(exported_variants):
    return exported_variants["fp32"].path


def _x(n: int = 5) -> np.ndarray:
    return np.random.default_rng(n).normal(size=(n, 1, 32, 32)).astype(np.float32)


def test_onnxruntime_takes_bytes_and_proto(fp32):
    with open_runner("onnxruntime", fp32) as r:
        want = r.infer(_x())
        assert r.source_name == str(fp32) and r.source_path == fp32
    for source in (fp32.read_bytes(), onnx.load(str(fp32))):
        with open_runner("onnxruntime", source) as r:
            np.testing.assert_array_equal(r.infer(_x()), want)
            assert r.spec.preset and r.source_name == IN_MEMORY
            with pytest.raises(UsageError, match="needs a file path"):
                r.source_path  # noqa: B018 - the property raises


def test_torch_takes_the_loaded_checkpoint(fp32):
    run = fp32.parent
    with open_runner("torch", run) as from_path, open_runner("torch", load_checkpoint(run)) as mem:
        np.testing.assert_array_equal(mem.infer(_x()), from_path.infer(_x()))
        assert mem.spec.fingerprint() == from_path.spec.fingerprint()


def test_in_memory_garbage_and_foreign_models_are_refused(fp32):
    with pytest.raises(ArtifactError, match="in-memory model is not a readable ONNX model"):
        open_runner("onnxruntime", b"not onnx at all").activate()
    foreign = onnx.load(str(fp32))
    del foreign.metadata_props[:]
    with pytest.raises(ArtifactError, match="<in-memory model>: has no 'vggdeploy.modelspec'"):
        open_runner("onnxruntime", foreign).activate()
    with pytest.raises(ArtifactError, match="expected a path, ONNX bytes or an onnx.ModelProto"):
        open_runner("onnxruntime", 42).activate()
