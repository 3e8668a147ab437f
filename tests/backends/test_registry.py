"""The backend registry is the one description of every backend, and nothing else re-declares it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import vggdeploy
from vggdeploy.backends.base import Device, infer_fitted, parse_device
from vggdeploy.backends.registry import BACKENDS, backend_for_path, supported_artifacts
from vggdeploy.errors import UsageError

PACKAGE = Path(vggdeploy.__file__).parent


@pytest.mark.parametrize(
    ("name", "kind", "opens"),
    [
        ("model.json", "torch", "model.json"),
        ("model.safetensors", "torch", "model.safetensors"),
        ("model.onnx", "onnxruntime", "model.onnx"),
        ("model.int8-cpu.onnx", "onnxruntime", "model.int8-cpu.onnx"),
        ("m.engine", "tensorrt", "m.engine"),
        ("m.plan", "tensorrt", "m.plan"),
        ("m.engine.json", "tensorrt", "m.engine"),  # the sidecar opens its engine
        ("M.PT2", "inductor", "M.PT2"),
        ("notes.txt", None, None),
        ("noext", None, None),
    ],
)
def test_backend_for_path(tmp_path, name, kind, opens):
    found = backend_for_path(tmp_path / name)
    if kind is None:
        assert found is None
    else:
        assert found is not None and (found[0].name, found[1]) == (kind, tmp_path / opens)


def test_a_folder_is_a_torch_run(tmp_path):
    info, path = backend_for_path(tmp_path)
    assert (info.name, path) == ("torch", tmp_path)


def test_every_entry_names_code_that_exists():
    """The lazily imported "module:attr" strings resolve, and each runner declares its options."""
    for name, info in BACKENDS.items():
        runner_cls = info.runner_class()
        assert runner_cls.kind == name
        assert runner_cls.OPTIONS and all(isinstance(v, str) for v in runner_cls.OPTIONS.values())
        for hook in (info.describe, info.render, info.precision_of):
            if hook:
                module, attr = hook.split(":")
                assert callable(getattr(__import__(module, fromlist=[attr]), attr)), hook
    assert [b.name for b in BACKENDS.values() if b.opens_folders] == ["torch"]
    assert "(tensorrt)" in supported_artifacts()


def test_discovery_in_a_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "engines").mkdir(parents=True)
    for name in ("model.fp16.onnx", "model.onnx", "other.onnx", "b.engine", "engines/a.engine"):
        (run / name).write_bytes(b"x")
    (run / "engines" / "x.cpu.pt2").write_bytes(b"x")
    assert BACKENDS["onnxruntime"].discover(run) == [run / "model.onnx", run / "model.fp16.onnx"]
    assert BACKENDS["tensorrt"].discover(run) == [run / "b.engine", run / "engines" / "a.engine"]
    assert BACKENDS["inductor"].discover(run) == [run / "engines" / "x.cpu.pt2"]
    assert BACKENDS["inductor"].discover(None) == []


class _Bounded:
    """Just what infer_fitted uses: bounds, infer (row sums as 'logits'), kind."""

    kind = "tensorrt"

    def __init__(self, lo: int, hi: int | None) -> None:
        self.bounds, self.calls = (lo, hi), []

    def batch_bounds(self):
        return self.bounds

    def infer(self, batch: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds
        assert lo <= len(batch) and (hi is None or len(batch) <= hi), len(batch)
        self.calls.append(len(batch))
        return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True)


def test_infer_fitted_slices_and_pads_within_the_bounds():
    x = np.arange(11 * 2, dtype=np.float32).reshape(11, 2)
    want = x.sum(axis=1, keepdims=True)
    engine = _Bounded(4, 8)
    np.testing.assert_array_equal(infer_fitted(engine, x), want)
    assert engine.calls == [8, 4]  # the last 3 rows padded up to the profile minimum
    unbounded = _Bounded(1, None)
    np.testing.assert_array_equal(infer_fitted(unbounded, x, max_batch=5), want)
    assert unbounded.calls == [5, 5, 1]
    with pytest.raises(UsageError, match="exceeds"):
        infer_fitted(_Bounded(1, 8), x, max_batch=9)


@pytest.mark.parametrize(
    ("given", "want"),
    [
        (None, Device("cpu")),
        ("cpu", Device("cpu")),
        ("cuda", Device("cuda")),
        ("cuda:1", Device("cuda", 1)),
        (0, Device("cuda", 0)),
        ("2", Device("cuda", 2)),
    ],
)
def test_parse_device(given, want):
    assert parse_device(given) == want


@pytest.mark.parametrize("cuda", [True, False])
def test_auto_device_is_the_gpu_when_torch_sees_one(monkeypatch, cuda):
    """bench's default: the GPU rows where CUDA is present, the CPU rows elsewhere."""
    import torch

    from vggdeploy.bench.run import BenchConfig

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert parse_device("auto") == (Device("cuda") if cuda else Device("cpu"))
    assert BenchConfig.device == "auto"


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:", "mps", True])
def test_parse_device_refuses(bad):
    with pytest.raises(UsageError, match="unknown device"):
        parse_device(bad)


# ---- one home: no second table of backend facts in the package ---------------------------------
_ARTIFACT_SUFFIXES = {s for b in BACKENDS.values() for s in b.suffixes} - {".json", ".safetensors"}
# Modules that name a suffix to *write or resolve their own file*, not to tell backends apart.
_FILE_OWNERS = {"backends/registry.py", "artifacts/variants.py", "export/onnx.py"}


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text())


def test_no_module_but_the_registry_keeps_a_suffix_table():
    hits = []
    for rel, tree in _sources():
        # parts of f-strings build a file name (engines/NAME.fp16.engine): not a table
        named = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        hits += [
            f"{rel}:{node.lineno} {node.value!r}"
            for node in ast.walk(tree)
            if rel not in _FILE_OWNERS
            and isinstance(node, ast.Constant)
            and node.value in _ARTIFACT_SUFFIXES
            and id(node) not in named
        ]
    assert not hits, "ask vggdeploy.backends.registry instead: " + ", ".join(hits)


def test_no_module_but_the_registry_keeps_a_per_backend_table():
    """No dict keyed by backend names (thread safety, hints, inspectors...) outside the registry."""
    names = set(BACKENDS)
    hits = [
        f"{rel}:{node.lineno}"
        for rel, tree in _sources()
        if rel != "backends/registry.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and len({k.value for k in node.keys if isinstance(k, ast.Constant)} & names) >= 2
    ]
    assert not hits, "ask vggdeploy.backends.registry instead: " + ", ".join(hits)
