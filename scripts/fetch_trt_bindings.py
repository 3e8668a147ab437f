#!/usr/bin/env python3
"""Fetch TensorRT's real Python bindings (no TensorRT libraries) for the API test; idempotent.

tests/backends/tensorrt/test_real_bindings.py checks every TensorRT name vggdeploy uses, and the
test double, against the real ``tensorrt`` module of each version pinned in ``VERSIONS``. The
bindings wheels (``tensorrt-cu12-bindings`` / ``tensorrt-cu13-bindings``, ~1.3 MB) hold only the
pybind11 module; it links a handful of C entry points from libnvinfer / libnvonnxparser /
libnvinfer_plugin, which tests/backends/tensorrt/stubs/trt_stubs.c stands in for (they abort if
ever called) so the module imports here. Each version is unpacked, unmodified, into

    $VGGDEPLOY_TRT_BINDINGS  (default ${XDG_CACHE_HOME:-~/.cache}/vggdeploy/trt-bindings)
        <version>/tensorrt_bindings/...   the wheel's package, as shipped
        <version>/lib/libnvinfer.so.N ... the stubs, with the sonames the module needs
        <version>/ready.json              written last: wheel name and sha256

Run by scripts/setup.sh; pytest never downloads. Needs pip (network to PyPI) and a C compiler.
Usage: fetch_trt_bindings.py [--check]   (--check: only report what is missing, exit 1 if any)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# The ONE place the tested TensorRT versions are pinned: the oldest and newest release of each
# major version vggdeploy supports (PyPI distribution, version).
VERSIONS: dict[str, str] = {
    "10.0.1": "tensorrt-cu12-bindings",
    "10.16.1.11": "tensorrt-cu12-bindings",
    "11.0.0.114": "tensorrt-cu13-bindings",
    "11.4.0.106": "tensorrt-cu13-bindings",
}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
STUB_SOURCE = Path(__file__).resolve().parent.parent / "tests/backends/tensorrt/stubs/trt_stubs.c"
STUB_LIBS = {"libnvinfer": "LIB_NVINFER", "libnvonnxparser": "LIB_NVONNXPARSER"}
STUB_LIBS["libnvinfer_plugin"] = "LIB_NVINFER_PLUGIN"


def cache_dir() -> Path:
    if os.environ.get("VGGDEPLOY_TRT_BINDINGS"):
        return Path(os.environ["VGGDEPLOY_TRT_BINDINGS"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vggdeploy" / "trt-bindings"


def major(version: str) -> int:
    return int(version.split(".")[0])


def version_dir(version: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / version


def is_ready(version: str, root: Path | None = None) -> bool:
    return (version_dir(version, root) / "ready.json").is_file()


def import_env(d: Path) -> dict[str, str]:
    """Environment for a subprocess importing the bindings unpacked in ``d`` (with the stubs)."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(d / "lib"), *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]
    )
    env["PYTHONPATH"] = os.pathsep.join([str(d), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _download(dist: str, version: str, dest: Path) -> Path:
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"]
    cmd += ["--no-deps", "--only-binary=:all:", "--python-version", py, "-d", str(dest)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    subprocess.run([*cmd, f"{dist}=={version}"], check=True)
    (wheel,) = dest.glob("*.whl")
    return wheel


def _build_stubs(version: str, lib_dir: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("fetch_trt_bindings: no C compiler (cc/gcc) to build the stub libraries")
    lib_dir.mkdir(parents=True, exist_ok=True)
    for lib, define in STUB_LIBS.items():
        soname = f"{lib}.so.{major(version)}"
        cmd = [cc, "-shared", "-fPIC", "-O1", f"-D{define}", f"-Wl,-soname,{soname}"]
        subprocess.run([*cmd, "-o", str(lib_dir / soname), str(STUB_SOURCE)], check=True)


def fetch(version: str, root: Path | None = None) -> Path:
    """Download, unpack and stub ``version`` into the cache (no-op when already ready)."""
    final = version_dir(version, root)
    if is_ready(version, root):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{version}-") as tmp:
        work = Path(tmp)
        wheel = _download(VERSIONS[version], version, work / "wheel")
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith("tensorrt_bindings/")]
            zf.extractall(work / "out", members)
        _build_stubs(version, work / "out" / "lib")
        probe = "import tensorrt_bindings as t; print(t.__version__)"
        got = subprocess.run(
            [sys.executable, "-c", probe],
            env=import_env(work / "out"),
            capture_output=True,
            text=True,
        )
        if got.returncode != 0 or got.stdout.strip() != version:
            raise SystemExit(
                f"fetch_trt_bindings: the {version} bindings do not import with the stubs "
                f"(a new C entry point? see `nm -D --undefined-only`):\n{got.stderr[-2000:]}"
            )
        stamp = {"wheel": wheel.name, "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
        (work / "out" / "ready.json").write_text(json.dumps(stamp) + "\n")
        if is_ready(version, root):  # another fetch finished first
            return final
        if final.exists():  # a half-finished earlier attempt (no ready.json)
            shutil.rmtree(final)
        (work / "out").rename(final)
    return final


def main(argv: list[str]) -> int:
    missing = [v for v in VERSIONS if not is_ready(v)]
    if "--check" in argv:
        for v in missing:
            print(f"missing: TensorRT {v} bindings in {version_dir(v)}")
        return 1 if missing else 0
    for v in VERSIONS:
        state = "cached" if v not in missing else "fetched"
        fetch(v)
        print(f"fetch_trt_bindings: TensorRT {v} bindings {state} in {version_dir(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
