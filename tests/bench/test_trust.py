"""Issue 19 class 4: files that are code (README "Security").

* Describing a native artifact never loads it: a .pt2 whose library would run on load is
  described from its archive's metadata (inspect, bench's plan, freshness) with the loader
  replaced by one that fails the test.
* bench loads native code it discovers in a run folder only when the folder's record
  (``.vggdeploy-written.json``) lists it with the same bytes - generated over every registry
  backend whose artifacts are native code x {unrecorded, recorded, changed after recording} - and
  runs an unrecorded one only when it is named explicitly.
* ONNX external data: one containment rule for every reader and for triton-repo's copy,
  generated over locations that leave the model's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from onnx_artifacts import export_fp32

from vggdeploy.backends.registry import BACKENDS
from vggdeploy.errors import ArtifactError

NATIVE = [b for b in BACKENDS.values() if b.native_code]


@pytest.fixture
def no_native_loads(monkeypatch):
    """Any attempt to load a .pt2's library fails the test."""
    import torch._inductor

    calls = []

    def load(*args, **_kw):
        calls.append(args)
        raise RuntimeError("the package's native code was loaded")

    monkeypatch.setattr(torch._inductor, "aoti_load_package", load)
    return calls


def _fake_package(path: Path, spec) -> Path:
    """A .pt2 laid out as AOTInductor writes one: metadata JSON and a 'library' (garbage here)."""
    from vggdeploy.backends.inductor import PACKAGE_KEY, SPEC_KEY

    facts = {"format": "vggdeploy.aoti-package", "version": 1, "device": "cpu",
             "batch": {"min": 1, "max": 8}, "checkpoint_weights_sha256": "0" * 64}  # fmt: skip
    meta = {SPEC_KEY: spec.to_json(), PACKAGE_KEY: json.dumps(facts), "AOTI_DEVICE_KEY": "cpu"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m/data/aotinductor/model/abc_metadata.json", json.dumps(meta))
        z.writestr("m/data/aotinductor/model/abc.wrapper.so", b"\x7fELF not really")
    return path


def _artifact(info, run: Path, spec) -> Path:
    """A native artifact of backend ``info`` in ``run`` (a stand-in for engines)."""
    if info.name == "inductor":
        return _fake_package(run / "dropped.pt2", spec)
    if info.name == "tensorrt":
        from engine_fakes import stand_in_engine

        engine = run / "dropped.engine"
        stand_in_engine(engine, spec, precision="fp32", max_batch=8)
        return engine
    pytest.skip(f"no stand-in for the native artifacts of {info.name}")


def test_describing_a_package_never_loads_it(tiny_run, no_native_loads):
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.backends.freshness import verdict
    from vggdeploy.backends.inspection import describe, render

    pkg = _fake_package(tiny_run / "p.pt2", read_spec(tiny_run))
    info = describe(pkg)
    assert info["model_spec"]["preset"] == "vgg-mini" and "p.pt2" in render(pkg, info)
    verdict(pkg)  # the freshness verdict reads the same metadata
    assert no_native_loads == []


@pytest.mark.parametrize("state", ["unrecorded", "recorded", "changed"])
@pytest.mark.parametrize("info", NATIVE, ids=[b.name for b in NATIVE])
def test_bench_loads_discovered_native_code_only_when_recorded(
    info, state, tiny_run, no_native_loads
):
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.artifacts.written import record_written
    from vggdeploy.bench.matrix import plan_cases

    path = _artifact(info, tiny_run, read_spec(tiny_run))
    if state != "unrecorded":
        record_written(path.parent, path, "build-engine")
    if state == "changed":  # replaced after vggdeploy built it
        with path.open("ab") as f:
            f.write(b"\0")
    cases = [c for c in plan_cases(tiny_run, backends=[info.name], precisions=["fp32"])]
    mine = [c for c in cases if c.artifact == path]
    assert len(mine) == 1
    if state == "recorded":
        assert mine[0].skip is None or "not loaded" not in mine[0].skip
    else:
        assert mine[0].skip and "not loaded" in mine[0].skip and "--artifacts" in mine[0].skip
    # named explicitly: the user's decision, planned like any artifact
    [named] = plan_cases(tiny_run, backends=[info.name], precisions=["fp32", "?"], artifacts=[path])
    assert named.skip is None or "not loaded" not in named.skip
    assert no_native_loads == []  # planning never loads


def test_a_built_package_is_recorded(tiny_pt2):
    from vggdeploy.artifacts.written import recorded_as_built

    assert recorded_as_built(tiny_pt2)


# ---- ONNX external data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_bytes(_trained_run: Path, tmp_path_factory) -> tuple[Path, bytes]:
    run = tmp_path_factory.mktemp("ext") / "run"
    shutil.copytree(_trained_run, run)
    return run, export_fp32(run).read_bytes()


def _with_external(folder: Path, blob: bytes, location: str) -> Path:
    """model.onnx in ``folder`` whose largest initializer's data is at ``location``."""
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load_from_string(blob)
    big = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    data = big.raw_data
    set_external_data(big, location=location, offset=0, length=len(data))
    big.ClearField("raw_data")
    big.data_location = onnx.TensorProto.EXTERNAL
    target = Path(location) if os.path.isabs(location) else folder / location
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    out = folder / "model.onnx"
    out.write_bytes(model.SerializeToString())
    return out


def _outside(tmp: Path) -> list[str]:
    return [str(tmp / "elsewhere.data"), "../elsewhere.data", "sub/../../elsewhere.data",
            "link/elsewhere.data", "missing.data"]  # fmt: skip


@pytest.mark.parametrize("kind", range(5))
def test_external_data_outside_the_folder_is_refused_everywhere(kind, onnx_bytes, tmp_path):
    from vggdeploy.artifacts.onnx_meta import load_onnx, read_onnx_spec
    from vggdeploy.backends.inspection import describe
    from vggdeploy.serve.predictor import load
    from vggdeploy.serve.triton import build_triton_repo

    run_src, blob = onnx_bytes
    run = tmp_path / "run"
    shutil.copytree(run_src, run)
    (run / "model.onnx").unlink()
    location = _outside(tmp_path)[kind]
    (tmp_path / "other").mkdir()
    if location.startswith("link/"):
        os.symlink(tmp_path / "other", run / "link")
    path = _with_external(run, blob, location)
    if location == "missing.data":
        (run / "missing.data").unlink()
    readers = [
        lambda: load_onnx(path, load_external_data=False),
        lambda: load_onnx(path),
        lambda: read_onnx_spec(path),
        lambda: describe(path),
        lambda: load(path),
        lambda: build_triton_repo(run, tmp_path / "repo"),
    ]
    for read in readers:
        with pytest.raises(ArtifactError, match="outside the model's folder|is missing") as exc:
            read()
        assert exc.value.exit_code == 4
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").rglob("*.onnx"))


def test_triton_repo_ships_the_external_data_it_reads(onnx_bytes, tmp_path):
    from vggdeploy.serve.predictor import load
    from vggdeploy.serve.triton import build_triton_repo

    run_src, blob = onnx_bytes
    run = tmp_path / "run"
    shutil.copytree(run_src, run)
    _with_external(run, blob, "weights/model.onnx.data")
    [folder] = build_triton_repo(run, tmp_path / "repo", name="m")
    shipped = folder / "1" / "weights" / "model.onnx.data"
    assert shipped.read_bytes() == (run / "weights" / "model.onnx.data").read_bytes()
    served = load(folder / "1" / "model.onnx")  # the copied model loads from the repository
    served.close()
