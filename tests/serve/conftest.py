"""The trained default model (tests/assets/vgg-mini-default, copied) and the real Fashion-MNIST
test split, for the tests of issue 19's inputs contract. Without the data the tests skip with the
reason (they fail under CI=true: scripts/setup.sh installs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ASSET = Path(__file__).resolve().parents[1] / "assets" / "vgg-mini-default"
REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


def _need_real_data() -> None:
    if not (REAL_DATA / "t10k-labels-idx1-ubyte.gz").is_file():
        why = (
            f"the real Fashion-MNIST is not installed at {REAL_DATA} (scripts/setup.sh installs it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def real_test_split() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 10000 x 28 x 28 images, int64 labels) of the real test split."""
    _need_real_data()
    from vggdeploy.data.fashion_mnist import load_split

    split = load_split("test", data_dir=REAL_DATA)
    return split.images, split.labels


def copy_asset(dst: Path) -> Path:
    """A fresh run folder holding the trained default model."""
    dst.mkdir(parents=True)
    for name in ("model.json", "model.safetensors"):
        shutil.copy(ASSET / name, dst / name)
    return dst


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_asset(tmp_path_factory.mktemp("real") / "run")


@pytest.fixture(scope="module")
def real_predictor(real_run: Path):
    """The trained model, opened once per module (torch backend, CPU)."""
    from vggdeploy.serve.predictor import load

    with load(real_run) as predictor:
        yield predictor


@pytest.fixture(scope="module")
def predictor(model_dir: Path):
    """The in-process Predictor of the module's served model (``model_dir``): the reference the
    real-server tests compare against."""
    from vggdeploy import load

    with load(model_dir) as p:
        yield p
