"""The C++ runners: build cpp/ with scripts/build_cpp.sh, then

* vgg_common_selftest: the shared npy / SHA-256 helpers and the parts of vgg_trt that need no
  TensorRT: the sidecar reader on a sidecar from Python's make_sidecar, and the engine-compatibility
  policy over the same case table (compat_cases.json) the Python checker runs;
* vgg_aoti: an AOTInductor package of the tiny_run checkpoint on preprocessed test images; its
  logits must match the PyTorch model's.

The build takes about a minute on 2 cores (incremental afterwards); the package is the session's
shared ``tiny_pt2``. Both run in the default suite, so CI builds and checks vgg_aoti every time.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import stand_in_engine
from serve_doubles import reference_logits

from vggdeploy.artifacts.checkpoint import read_spec
from vggdeploy.backends.tensorrt.compat import CASES_FILE
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, read_sidecar
from vggdeploy.data import load_split, preprocess
from vggdeploy.models import make_spec

REAL_TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist")


def run(exe: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def test_common_selftest(built: Path, tmp_path: Path) -> None:
    engine = stand_in_engine(
        tmp_path / "m.engine",
        make_spec(),
        trt_version="10.16.1.11",
        device=DeviceInfo("NVIDIA A100-SXM4-80GB", (8, 0)),
        version_compatible=True,
        hardware_compat="ampere+",
    )
    proc = run(built / "vgg_common_selftest", tmp_path, CASES_FILE, engine)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout
    cases = len(json.loads(CASES_FILE.read_text())["cases"])
    assert f"compat cases: {cases} of {cases} passed" in proc.stdout
    # C++ reads the Python-written sidecar to the same facts (and OpenSSL's digest matched).
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("sidecar: ")]
    py = read_sidecar(engine)
    assert json.loads(line.removeprefix("sidecar: ")) == {
        "engine_sha256": py.engine_sha256,
        "engine_size": py.engine_size,
        "trt_version": "10.16.1.11",
        "version_compatible": True,
        "hardware_compat": "ampere+",
        "gpu": "NVIDIA A100-SXM4-80GB",
        "compute_capability": [8, 0],
    }


@pytest.fixture
def package(tiny_pt2: Path) -> Path:
    return tiny_pt2


def test_vgg_aoti_matches_python(
    built: Path, package: Path, _trained_run: Path, fake_data: Path, tmp_path: Path
) -> None:
    spec = read_spec(_trained_run)
    # Real Fashion-MNIST test images where the machine has them, the synthetic set otherwise.
    data_dir = (
        REAL_TEST_IMAGES
        if (REAL_TEST_IMAGES / "t10k-images-idx3-ubyte.gz").is_file()
        else fake_data
    )
    images = load_split("test", data_dir).images[:37]
    batch = preprocess(images, spec)
    np.save(tmp_path / "x.npy", batch)
    proc = run(
        built / "vgg_aoti",
        package,
        "--input",
        tmp_path / "x.npy",
        "--output",
        tmp_path / "y.npy",
        "--batch",
        "16",
    )
    assert proc.returncode == 0, proc.stderr
    assert "in chunks of 16" in proc.stderr
    logits = np.load(tmp_path / "y.npy")
    ref = reference_logits(_trained_run, batch)
    assert logits.shape == (37, spec.num_classes) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(logits.argmax(axis=1), ref.argmax(axis=1))

    # raw float32 input + text output gives the same numbers
    batch[:5].tofile(tmp_path / "x.raw")
    proc = run(
        built / "vgg_aoti",
        package,
        "--input",
        tmp_path / "x.raw",
        "--shape",
        "5,1,32,32",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.strip().splitlines()]
    assert [int(r[0]) for r in rows] == ref[:5].argmax(axis=1).tolist()
    np.testing.assert_allclose(
        np.array([[float(v) for v in r[1:]] for r in rows]), ref[:5], rtol=1e-4, atol=1e-4
    )


def test_vgg_aoti_bad_input(built: Path, package: Path, tmp_path: Path) -> None:
    exe = built / "vgg_aoti"
    np.save(tmp_path / "wrong.npy", np.zeros((2, 1, 28, 28), np.float32))
    proc = run(exe, package, "--input", tmp_path / "wrong.npy")
    assert proc.returncode == 2 and "the model takes N x 1 x 32 x 32" in proc.stderr
    np.save(tmp_path / "f64.npy", np.zeros((2, 1, 32, 32), np.float64))
    proc = run(exe, package, "--input", tmp_path / "f64.npy")
    assert proc.returncode == 2 and "'<f8'" in proc.stderr
    np.save(tmp_path / "nan.npy", np.full((1, 1, 32, 32), np.nan, np.float32))
    proc = run(exe, package, "--input", tmp_path / "nan.npy")
    assert proc.returncode == 2 and "NaN" in proc.stderr
    (tmp_path / "x.raw").write_bytes(b"\0" * 12)
    proc = run(exe, package, "--input", tmp_path / "x.raw", "--shape", "1,1,32,32")
    assert proc.returncode == 2 and "needs 4096" in proc.stderr
    proc = run(exe, tmp_path / "missing.pt2", "--input", tmp_path / "wrong.npy")
    assert proc.returncode == 4 and "not found" in proc.stderr
    proc = run(exe, package)
    assert proc.returncode == 2 and "missing --input" in proc.stderr
    assert run(exe, "--help").returncode == 0
