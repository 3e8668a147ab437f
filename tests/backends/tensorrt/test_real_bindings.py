"""The TensorRT names vggdeploy uses, and the test double, checked against the REAL bindings.

The contract tests (test_contract.py) run the backend against ``trt_double``; nothing there holds
the double to the real API. Here the real pybind11 module of each pinned TensorRT release
(scripts/fetch_trt_bindings.py: oldest and newest 10.x and 11.x, fetched by scripts/setup.sh
into a cache, imported with stub C libraries - nothing ever calls into TensorRT) answers:

- every use the package makes while its build / load / inspect / run paths execute under the
  double (module attributes, enum members, attribute reads, calls with their arity and keyword
  names, property assignments, overridden ILogger / IProgressMonitor callbacks; each with file
  and line) exists in that version and accepts the call - the double runs with that version's
  number, so code under a version guard is checked against the versions it runs on;
- every name, signature and enum member the double offers is the real one of its flavour.

Without the cache the tests skip and say how to fetch it; under ``CI=true`` they fail instead.
pytest never downloads anything.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trt_double
import trt_real_api
from trt_uses import record_uses

REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "tests"
_spec = importlib.util.spec_from_file_location(
    "fetch_trt_bindings", REPO / "scripts/fetch_trt_bindings.py"
)
fetch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch)
CACHE = fetch.cache_dir()  # read at import: the autouse fixture later points XDG_CACHE_HOME away
VERSIONS = list(fetch.VERSIONS)


def _newest(major: int) -> str:
    return max(
        (v for v in VERSIONS if fetch.major(v) == major),
        key=lambda v: tuple(map(int, v.split("."))),
    )


def _require_cache() -> None:
    missing = [v for v in VERSIONS if not fetch.is_ready(v, CACHE)]
    if missing:
        why = (
            f"TensorRT bindings {', '.join(missing)} not in {CACHE}: run scripts/setup.sh "
            "(or python scripts/fetch_trt_bindings.py; VGGDEPLOY_TRT_BINDINGS moves the cache)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(why)


def check_real(version: str, uses: list[dict[str, Any]], flavour: str | None = None) -> dict:
    """trt_real_api.py's report on ``uses`` (and the double of ``flavour``) for ``version``."""
    request = json.dumps({"uses": uses, "tests_dir": str(TESTS)})
    argv = [sys.executable, trt_real_api.__file__, *([flavour] if flavour else [])]
    env = fetch.import_env(fetch.version_dir(version, CACHE))
    got = subprocess.run(argv, input=request, env=env, capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, f"checker for TensorRT {version} failed:\n{got.stderr[-3000:]}"
    report = json.loads(got.stdout)
    assert report["version"] == version
    return report


def describe(problem: dict[str, Any], version: str) -> str:
    file = Path(problem["file"])
    shown = file.relative_to(REPO) if file.is_relative_to(REPO) else file
    what = (
        problem["name"] if problem["kind"] == "module" else f"{problem['owner']}.{problem['name']}"
    )
    return f"{shown}:{problem['line']}: {what} not in TensorRT {version} ({problem['why']})"


@pytest.fixture(scope="module")
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Per pinned version: the package's recorded uses, failing scenarios and the real verdict."""
    _require_cache()  # before the (slower) trained run is made
    _onnx_run = request.getfixturevalue("_onnx_run")
    out = {}
    for version in VERSIONS:
        flavour = str(fetch.major(version))
        work = tmp_path_factory.mktemp(f"trt{version}")
        run = work / "tiny"
        shutil.copytree(_onnx_run, run)
        uses, errors = record_uses(run, work / "out", flavour, version)
        newest = version == _newest(fetch.major(version))
        report = check_real(version, uses, flavour if newest else None)
        out[version] = {"uses": uses, "errors": errors, **report}
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_package_uses_only_real_tensorrt_api(reports, version):
    report = reports[version]
    assert report["errors"] == [], report["errors"]
    problems = [describe(p, version) for p in report["problems"]]
    assert not problems, "\n".join(problems)


def test_recording_sees_every_code_path(reports):
    """The check above can only be as good as the recording: it must see build, load, inspect,
    the runner and the callbacks, or a passing test would prove nothing."""
    for version, report in reports.items():
        seen = {(u["kind"], u["owner"], u["name"]) for u in report["uses"]}
        files = {Path(u["file"]).name for u in report["uses"]}
        assert {"build.py", "config.py", "env.py", "runner.py"} <= files, (version, files)
        for want in [
            ("call", "Builder", "__init__"),
            ("call", "IBuilderConfig", "set_timing_cache"),
            ("set", "IBuilderConfig", "progress_monitor"),
            ("set", "Runtime", "engine_host_code_allowed"),
            ("call", "EngineInspector", "get_engine_information"),
            ("call", "IExecutionContext", "execute_async_v3"),
            ("attr", "ITensor", "shape"),
            ("enum", "ILogger.Severity", "INTERNAL_ERROR"),
            ("override", "IProgressMonitor", "step_complete"),
            ("override", "ILogger", "log"),
            ("call", "OnnxParser", "get_error"),
            ("attr", "OnnxParser", "num_errors"),
        ]:
            assert want in seen, (version, want)
        strongly_typed = ("enum", "NetworkDefinitionCreationFlag", "STRONGLY_TYPED")
        assert (strongly_typed in seen) == (fetch.major(version) == 10), version


def test_every_module_reference_in_the_source_is_recorded(reports):
    """Static complement: each ``trt.NAME`` written in the backend package was executed (and so
    checked above) under at least one version - a new, undriven code path fails here."""
    executed = {
        (u["file"], u["line"], u["name"])
        for r in reports.values()
        for u in r["uses"]
        if u["kind"] == "module"
    }
    package = Path(trt_double.PACKAGE_DIR)
    unchecked = []
    for file in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            is_trt = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            if is_trt and node.value.id == "trt":
                if (str(file), node.lineno, node.attr) not in executed:
                    unchecked.append(f"{file.relative_to(REPO)}:{node.lineno}: trt.{node.attr}")
    assert not unchecked, "never executed under the double, so not checked:\n" + "\n".join(
        unchecked
    )


@pytest.mark.parametrize("major", [10, 11])
def test_double_is_the_real_api_of_its_flavour(reports, major):
    version = _newest(major)
    assert trt_double.VERSIONS[str(major)] == version, "the double mimics the newest pinned release"
    assert reports[version]["double"] == []


def test_probed_names_are_only_optional_features(reports):
    """Names missing in some version are reached only through getattr(..., default) probes
    (e.g. HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY, new in 10.x after 10.0)."""
    probes = {describe(p, v) for v, r in reports.items() for p in r["probes"]}
    assert any("TensorRT 10.0.1" in p for p in probes), "10.0 lacks SAME_COMPUTE_CAPABILITY"
    assert all("HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY" in p for p in probes), probes


def test_misspelled_method_is_reported_with_file_and_line(request, tmp_path, monkeypatch):
    """Show the check can fail: build_engine with a copy of config.py, one method misspelled."""
    _require_cache()
    _onnx_run = request.getfixturevalue("_onnx_run")
    from vggdeploy.backends.tensorrt import build, config

    source = Path(config.__file__).read_text()
    right = "config.set_memory_pool_limit("
    assert source.count(right) == 1
    copy = tmp_path / "config_misspelled.py"
    copy.write_text(source.replace(right, "config.set_memory_pool_limt("))
    line = 1 + source[: source.index(right)].count("\n")
    name = "vggdeploy.backends.tensorrt.config_misspelled"
    spec = importlib.util.spec_from_file_location(name, copy)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(build, "create_config", module.create_config)
    run = tmp_path / "tiny"
    shutil.copytree(_onnx_run, run)

    uses, errors = record_uses(run, tmp_path / "out", "10", "10.0.1", watch=(str(copy),))
    report = check_real("10.0.1", uses)
    problems = [describe(p, "10.0.1") for p in report["problems"]]
    want = "IBuilderConfig.set_memory_pool_limt not in TensorRT 10.0.1 (no such attribute)"
    assert f"{copy}:{line}: {want}" in problems
    assert any("set_memory_pool_limt" in e for e in errors)  # the double refuses it as well


def test_stub_libraries_refuse_to_run_tensorrt():
    """The real module imports, but anything reaching TensorRT's libraries aborts loudly."""
    _require_cache()
    version = _newest(10)
    code = "import tensorrt_bindings as trt; trt.Builder(trt.Logger())"
    got = subprocess.run(
        [sys.executable, "-c", code],
        env=fetch.import_env(fetch.version_dir(version, CACHE)),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
    )
    assert got.returncode == -signal.SIGABRT, got
    assert "stub: createInferBuilder_INTERNAL() called" in got.stderr


# ---- the signature reader, on docstrings as pybind11 writes them (no bindings needed) ----------

SET_INPUT_SHAPE = """set_input_shape(*args, **kwargs)
Overloaded function.

1. set_input_shape(self: tensorrt.IExecutionContext, name: str, shape: tuple) -> bool

    Set shape for the given input tensor.

2. set_input_shape(self: tensorrt.IExecutionContext, name: str, shape: list) -> bool
"""


def _fn(doc: str) -> Any:
    def f() -> None:
        pass

    f.__doc__ = doc
    return f


def test_signature_reader_handles_overloads_defaults_and_keywords():
    (sig, _) = trt_real_api.signatures(_fn(SET_INPUT_SHAPE), "set_input_shape")
    assert sig.params == (("name", False), ("shape", False))
    assert sig.accepts(2, []) and sig.accepts(1, ["shape"])
    assert not sig.accepts(1, []) and not sig.accepts(3, []) and not sig.accepts(1, ["shap"])
    doc = (
        "create_execution_context(self: tensorrt.ICudaEngine, strategy: tensorrt.Strategy = "
        "<ExecutionContextAllocationStrategy.STATIC: 0>) -> tensorrt.IExecutionContext"
    )
    (sig,) = trt_real_api.signatures(_fn(doc), "create_execution_context")
    assert sig.params == (("strategy", True),) and sig.accepts(0, []) and not sig.accepts(2, [])
    doc = "set(self: X, d: Dict[str, Tuple[int, int]], n: typing.SupportsInt = 0) -> None"
    (sig,) = trt_real_api.signatures(_fn(doc), "set")
    assert sig.params == (("d", False), ("n", True))
