"""Shared fixtures: a small synthetic Fashion-MNIST on disk (no network) and a tiny trained run.

Markers: ``slow`` tests run with ``--run-slow``; ``gpu`` tests with ``--run-gpu`` (and need CUDA /
TensorRT). Both are skipped by default with the reason shown in pytest's summary (-ra).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from vggdeploy.data.idx import write_idx

# Property tests explore a fixed, reproducible set of examples in the default run (a failure is
# then the same on every machine); `HYPOTHESIS_PROFILE=explore` draws fresh random examples.
settings.register_profile("default-run", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default-run"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--run-gpu", action="store_true", help="run tests marked gpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow test: run with --run-slow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU / TensorRT: run with --run-gpu")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not config.getoption("--run-gpu"):
            item.add_marker(skip_gpu)


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic 28x28 images: each class is a bright bar at its own position."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c : 5 + 2 * c, 4:24] = 220
    return images, labels


def write_dataset(
    root: Path, n_train: int = 512, n_test: int = 256, *, compress: bool = True
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if compress else ""
    for split, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = make_images(n, seed)
        write_idx(root / f"{split}-images-idx3-ubyte{ext}", images, compress=compress)
        write_idx(root / f"{split}-labels-idx1-ubyte{ext}", labels, compress=compress)
    return root


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset folder (512 train / 256 test images, gzip)."""
    return write_dataset(tmp_path_factory.mktemp("fmnist"))


@pytest.fixture(scope="session")
def _trained_run(tmp_path_factory: pytest.TempPathFactory, fake_data: Path) -> Path:
    from vggdeploy.train.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    # the recipe these export/debug fixtures were calibrated on (pinned: the default's EMA and
    # random erasing change a 16-step model enough to move the tiny INT8 thresholds; tests count
    # vgg-mini's layers)
    cfg = TrainConfig(
        preset="vgg-mini", epochs=2, batch_size=64, lr=0.05, seed=0, warmup_epochs=0.5,
        schedule="cosine", erase=0.0, ema=0.0,
    )  # fmt: skip
    train(cfg, out, data_dir=str(fake_data), log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def tiny_pt2(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AOTInductor CPU package (max batch 64) of the tiny run, built once per session through
    the CLI (`vggdeploy build-engine RUN --backend inductor`); the C++ compile takes ~30-60 s."""
    from vggdeploy.cli import main

    run = tmp_path_factory.mktemp("aoti") / "tiny"
    shutil.copytree(_trained_run, run)
    out = run / "tiny.pt2"
    argv = ["build-engine", str(run), "--backend", "inductor", "--max-batch", "64", "-o", str(out)]
    assert main(argv) == 0, "AOTInductor build failed"
    return out


# The settings of the session's `export --precision all` (exported_variants).
VARIANTS_EXPORT = {"max_batch": 16, "simplify": False, "calib_size": 64}


@pytest.fixture(scope="session")
def exported_variants(
    _trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """`export --precision all` of the tiny run, once per session (a copy of the run folder):
    {"fp32", "fp16", "int8", "int8-cpu"} -> ExportResult. Treat the folder as read-only."""
    from vggdeploy.export.pipeline import export_variants

    run = tmp_path_factory.mktemp("precision") / "run"
    shutil.copytree(_trained_run, run)
    return export_variants(run, precisions="all", data_dir=fake_data, **VARIANTS_EXPORT)


@pytest.fixture
def tiny_run(_trained_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of a run folder with a vgg-mini checkpoint trained 2 epochs on fake data."""
    dst = tmp_path / "run"
    shutil.copytree(_trained_run, dst)
    return dst


@pytest.fixture(autouse=True)
def _no_ambient_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the real dataset or the user's cache unless they ask for it."""
    monkeypatch.delenv("VGGDEPLOY_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("vggdeploy.data.fashion_mnist.SYSTEM_DIR", tmp_path / "no-system-dataset")
