"""AOTInductor packages: a real CPU build, its output against PyTorch, dynamic batch, metadata.

The compile takes 30-80 s on 2 cores (C++ compilation of the generated code), so one package is
built per session (conftest's ``tiny_pt2``, through the CLI) and shared by every test that needs
one; only the second, separate CLI build below is marked slow.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vggdeploy.artifacts.checkpoint import load_checkpoint, read_spec
from vggdeploy.backends import open_runner
from vggdeploy.backends.inductor import build_inductor, inspect_package
from vggdeploy.cli import main
from vggdeploy.errors import ArtifactError, BackendUnavailableError, UsageError

MAX_BATCH = 64


@pytest.fixture
def package(tiny_pt2: Path) -> Path:
    return tiny_pt2


def _reference(run: Path, batch: np.ndarray) -> np.ndarray:
    import torch

    model, _ = load_checkpoint(run)
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


@pytest.mark.parametrize("n", [1, 7, MAX_BATCH])
def test_cpu_package_matches_pytorch_at_any_batch(package, n):
    rng = np.random.default_rng(n)
    batch = rng.standard_normal((n, 1, 32, 32)).astype(np.float32)
    with open_runner("inductor", package) as runner:
        assert runner.batch_bounds() == (1, MAX_BATCH)
        got = runner.infer(batch)
    want = _reference(package.parent, batch)
    assert got.shape == (n, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_batch_beyond_the_package_bound_is_refused(package):
    with open_runner("inductor", package) as runner, pytest.raises(UsageError, match="range"):
        runner.infer(np.zeros((MAX_BATCH + 1, 1, 32, 32), np.float32))


def test_package_carries_the_model_spec(package, capsys):
    info = inspect_package(package)
    spec = read_spec(package.parent)
    assert info["model_spec"] == json.loads(spec.to_json())
    assert info["build"]["batch"] == {"min": 1, "max": MAX_BATCH}
    assert info["build"]["device"] == "cpu"
    assert "AOTI_DEVICE_KEY" in info["aoti"]
    with open_runner("inductor", package) as runner:
        assert runner.spec.fingerprint() == spec.fingerprint()
    assert main(["inspect", str(package)]) == 0
    assert f"batch                1..{MAX_BATCH}" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_builds_a_package(_trained_run, tmp_path, capsys):
    run = tmp_path / "tiny"
    shutil.copytree(_trained_run, run)
    out = tmp_path / "m.pt2"
    assert (
        main(
            ["build-engine", str(run), "--backend", "inductor", "--max-batch", "8", "-o", str(out)]
        )
        == 0
    )
    assert "built in" in capsys.readouterr().out
    assert inspect_package(out)["build"]["batch"]["max"] == 8


def test_output_must_be_pt2(tiny_run, tmp_path):
    with pytest.raises(UsageError, match=r"\.pt2"):
        build_inductor(tiny_run, tmp_path / "model.engine")


def test_cuda_package_without_gpu_is_backend_unavailable(tiny_run, tmp_path):
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        build_inductor(tiny_run, tmp_path / "m.pt2", device="cuda")
    code = main(
        [
            "build-engine",
            str(tiny_run),
            "--backend",
            "inductor",
            "--device",
            "cuda",
            "-o",
            str(tmp_path / "m.pt2"),
        ]
    )
    assert code == 6


def test_tensorrt_options_are_refused_for_inductor(tiny_run, tmp_path, capsys):
    code = main(
        [
            "build-engine",
            str(tiny_run),
            "--backend",
            "inductor",
            "--fp16",
            "--workspace",
            "1G",
            "-o",
            str(tmp_path / "m.pt2"),
        ]
    )
    assert code == 2
    assert "--fp16/--int8, --workspace only apply to --backend tensorrt" in capsys.readouterr().err


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ArtifactError, match="checkpoint"):
        build_inductor(tmp_path / "nothing", tmp_path / "m.pt2")


def test_not_a_package(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="not a readable AOTInductor package"):
        inspect_package(bad)
    with pytest.raises(ArtifactError, match="not a readable"), open_runner("inductor", bad):
        pass


def test_foreign_package_without_model_spec(tmp_path):
    foreign = tmp_path / "foreign.pt2"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("archive/data/aotinductor/model/x_metadata.json", '{"AOTI_PLATFORM": "linux"}')
    with pytest.raises(ArtifactError, match="carries no vggdeploy ModelSpec"):
        inspect_package(foreign)


def test_zip_without_aoti_metadata_falls_back_to_the_loader(tmp_path):
    odd = tmp_path / "odd.pt2"
    with zipfile.ZipFile(odd, "w") as z:
        z.writestr("archive/version", "1")
    with pytest.raises(ArtifactError, match="not a loadable AOTInductor package"):
        inspect_package(odd)
