"""Hardening: property-based tests on the parsers and input validation, atomic writes under a
killed process and a full disk."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from engine_fakes import stand_in_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vggdeploy import _io
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, check_engine, read_sidecar
from vggdeploy.errors import ArtifactError, OutputError, UsageError
from vggdeploy.models import make_spec
from vggdeploy.serve.inputs import to_batch
from vggdeploy.spec import ModelSpec

json_scalars = (
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(-2, 2) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SPEC = make_spec().to_dict()


def _mutations():
    """A valid spec dict with one field replaced by an arbitrary JSON value (or removed)."""
    paths = [
        ("preset",),
        ("num_classes",),
        ("arch",),
        ("arch", "conv_arch"),
        ("arch", "dropout"),
        ("arch", "batch_norm"),
        ("input",),
        ("input", "channels"),
        ("input", "height"),
        ("preprocess", "mode"),
        ("preprocess", "mean"),
        ("preprocess", "source_size"),
        ("class_names",),
        ("version",),
        ("format",),
    ]
    return st.tuples(st.sampled_from(paths), json_values, st.booleans())


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_spec_parser_never_crashes(mutation):
    """Any damaged model.json is either a valid spec or an ArtifactError naming the source."""
    path, value, remove = mutation
    data = json.loads(json.dumps(SPEC))
    target = data
    for key in path[:-1]:
        target = target[key]
    if remove:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    try:
        spec = ModelSpec.from_dict(data, source="model.json")
    except ArtifactError as exc:
        assert "model.json" in str(exc)
        return
    assert spec.validate() is spec
    assert ModelSpec.from_json(spec.to_json()) == spec


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_spec_json_garbage(blob):
    try:
        ModelSpec.from_json(blob, source="m.json")
    except ArtifactError:
        pass


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=120) | json_values.map(lambda v: json.dumps(v).encode()))
def test_sidecar_parser_never_crashes(tmp_path, blob):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    (tmp_path / "m.engine.json").write_bytes(blob)
    with pytest.raises(ArtifactError, match="m.engine.json"):
        read_sidecar(engine)


def _leaf_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaf_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaf_paths(v, (*prefix, i))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_damaged_sidecar_is_refused_or_fully_usable(tmp_path, data):
    """One field of a real sidecar replaced or removed: read_sidecar refuses it (ArtifactError
    naming the file), or every accessor and the compatibility check work on it (no TypeError /
    KeyError slips past the schema)."""
    engine = stand_in_engine(tmp_path / "m.engine", make_spec())
    side = tmp_path / "m.engine.json"
    doc = json.loads(side.read_text())
    path = data.draw(st.sampled_from([p for p in _leaf_paths(doc) if p]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(json_values)
    side.write_text(json.dumps(doc))
    try:
        sidecar = read_sidecar(engine)
    except ArtifactError as exc:
        assert "m.engine.json" in str(exc)
        return
    _ = (sidecar.trt_version, sidecar.version_compatible, sidecar.hardware_compat, sidecar.device)
    _ = (sidecar.batch_bounds, sidecar.precision, sidecar.rebuild_command, sidecar.engine_size)
    try:
        sidecar.model_spec()
        check_engine(engine, trt_version="10.13.0.35", device=DeviceInfo("GPU", (9, 0)))
    except ArtifactError:
        pass


INPUT_SPEC = make_spec("vgg-mini")  # 1 x 32 x 32


@settings(max_examples=150, deadline=None)
@given(
    arrays(
        st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.bool_]),
        st.lists(st.integers(0, 40), min_size=0, max_size=5).map(tuple),
    )
)
def test_predictor_inputs_are_a_batch_or_a_usage_error(arr):
    """Whatever array comes in: a finite float32 N x 1 x 32 x 32 batch, or a UsageError."""
    try:
        batch, sources = to_batch(arr, INPUT_SPEC)
    except UsageError:
        return
    assert batch.dtype == np.float32 and batch.ndim == 4
    assert batch.shape[1:] == (1, 32, 32) and batch.shape[0] == len(sources) >= 1
    assert np.isfinite(batch).all()


def test_killed_mid_write_leaves_the_previous_file(tmp_path):
    """SIGKILL while an atomic write is under way: the target keeps its old content."""
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"previous good version")
    code = textwrap.dedent(f"""
        import sys, time
        from vggdeploy._io import atomic_open
        with atomic_open({str(target)!r}, "wb") as fh:
            fh.write(b"half of the new ver")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
            fh.write(b"sion")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert target.read_bytes() == b"previous good version"


def test_disk_full_is_an_output_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text('{"old": true}')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    with pytest.raises(OutputError, match="No space left on device") as err:
        _io.write_json(target, {"new": True})
    assert str(target) in str(err.value)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left
