"""Issue 19, class 7 (Python API): the public entry points get wrong-typed and out-of-range
arguments drawn by hypothesis and must answer UsageError (exit 2) naming the argument, never a raw
TypeError/ValueError/OverflowError from deep inside (vggdeploy/_args.py holds the checks).

The table below is the written contract: each public argument's kind and range. Only values
outside it are drawn, so every call must fail, before any slow work (the checks run first)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vggdeploy.errors import UsageError

I32 = 2**31 - 1


@dataclass(frozen=True)
class Arg:
    kind: str  # int | float | bool | path
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    optional: bool = False  # None is valid


def INT(lo=None, hi=I32, optional=False):  # noqa: N802
    return Arg("int", lo, hi, optional=optional)


def FLOAT(lo=None, hi=None, lo_open=False, hi_open=False, optional=False):  # noqa: N802
    return Arg("float", lo, hi, lo_open, hi_open, optional)


BOOL, PATH = Arg("bool"), Arg("path")


# ---- the entry points: a call with otherwise valid arguments, and their contract ------------
def _train(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.train.config import TrainConfig
    from vggdeploy.train.loop import train

    return train(TrainConfig(**kw), ctx["tmp"] / "t", data_dir=str(ctx["data"]), log=lambda *_: 0)


def _export(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.export.pipeline import export_variants

    return export_variants(kw.pop("checkpoint", ctx["run"]), **{"data_dir": ctx["data"], **kw})


def _build_engine(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.backends.tensorrt import build_engine

    return build_engine(kw.pop("onnx_path", ctx["run"] / "model.onnx"), **kw)


def _build_inductor(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.backends.inductor import build_inductor

    return build_inductor(kw.pop("checkpoint", ctx["run"]), ctx["tmp"] / "m.pt2", **kw)


def _bench(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.bench.run import BenchConfig, run_bench

    cfg = {"run": ctx["run"], "backends": ["torch"], "precisions": ["fp32"], "iters": 10, **kw}
    return run_bench(BenchConfig(**cfg))


def _triton(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.serve.triton import build_triton_repo

    return build_triton_repo(kw.pop("source", ctx["run"]), ctx["tmp"] / "repo", **kw)


def _debug(ctx: dict, **kw: Any) -> Any:
    from vggdeploy.debug import debug_precision

    return debug_precision(kw.pop("run", ctx["run"]), **kw)


def _load(ctx: dict, **kw: Any) -> Any:
    import vggdeploy

    return vggdeploy.load(kw.pop("path", ctx["run"]), **kw)


ENTRY: dict[str, tuple[Callable[..., Any], dict[str, Arg]]] = {
    "train(TrainConfig)": (_train, {
        "epochs": INT(1), "batch_size": INT(1), "lr": FLOAT(0, lo_open=True),
        "momentum": FLOAT(0, 1, hi_open=True), "weight_decay": FLOAT(0),
        "warmup_epochs": FLOAT(0, I32, optional=True), "label_smoothing": FLOAT(0, 1, hi_open=True),
        "erase": FLOAT(0, 1), "ema": FLOAT(0, 1, hi_open=True), "seed": INT(0, 2**32 - 1),
        "workers": INT(0, 256), "input_size": INT(1, 1024, optional=True),
        "limit_train": INT(1, optional=True), "limit_test": INT(1, optional=True),
        "augment": BOOL, "amp": BOOL, "cpu_bf16": Arg("bool", optional=True), "channels_last": BOOL,
    }),
    "export_variants": (_export, {
        "checkpoint": PATH, "opset": INT(7, 28), "max_batch": INT(1), "atol": FLOAT(0),
        "rtol": FLOAT(0), "calib_size": INT(1), "limit_test": INT(1, optional=True),
        "verify": BOOL, "simplify": Arg("bool", optional=True),
    }),
    "build_engine": (_build_engine, {
        "onnx_path": PATH, "min_batch": INT(1), "opt_batch": INT(1, optional=True),
        "max_batch": INT(1, optional=True), "workspace": INT(1, 2**63 - 1, optional=True),
        "opt_level": INT(0, 5, optional=True), "version_compatible": BOOL, "allow_fallback": BOOL,
    }),
    "build_inductor": (_build_inductor, {"checkpoint": PATH, "max_batch": INT(1)}),
    "run_bench(BenchConfig)": (_bench, {
        "run": PATH, "warmup": INT(0), "iters": INT(1), "repeats": INT(1),
        "duration_s": FLOAT(0, 86_400, lo_open=True, optional=True),
        "threads": INT(1, 1024, optional=True), "limit_test": INT(1, optional=True),
        "accuracy": BOOL, "torch_compile": BOOL, "ort_tensorrt": BOOL,
    }),
    "build_triton_repo": (_triton, {
        "source": PATH, "max_batch": INT(1, optional=True), "instances": INT(1, 1024),
        "max_queue_delay_us": INT(0), "force": BOOL,
    }),
    "debug_precision": (_debug, {
        "run": PATH, "images": INT(1), "threshold_db": FLOAT(),
        "max_drop_pt": FLOAT(0, 100, optional=True), "min_agreement": FLOAT(0, 1, optional=True),
        "sensitivity": BOOL,
    }),
    "load": (_load, {"path": PATH, "max_batch": INT(1, optional=True),
                     "thread_safe": Arg("bool", optional=True)}),
}  # fmt: skip

CASES = [(entry, name) for entry, (_, args) in ENTRY.items() for name in args]


# ---- values outside the contract ------------------------------------------------------------
_WRONG_TYPES = st.one_of(
    st.text(max_size=5), st.binary(max_size=3), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1), st.just(object()),
    st.just(1j), st.just(b"1"),
)  # fmt: skip
_NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)])


def bad_values(a: Arg) -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = [_WRONG_TYPES]
    if not a.optional:
        options.append(st.none())
    if a.kind == "int":
        options += [st.booleans(), st.floats(allow_nan=True), st.decimals(allow_nan=False)]
        if a.min is not None:
            options.append(st.integers(max_value=int(a.min) - 1))
        options.append(st.integers(min_value=int(a.max) + 1))  # type: ignore[arg-type]
    elif a.kind == "float":
        options += [st.booleans(), _NON_FINITE]
        if a.min is not None:
            below = st.floats(max_value=a.min, exclude_max=not a.min_open, allow_nan=False)
            options.append(below.filter(math.isfinite))
        if a.max is not None:
            above = st.floats(min_value=a.max, exclude_min=not a.max_open, allow_nan=False)
            options.append(above.filter(math.isfinite))
    elif a.kind == "bool":
        options += [st.integers(), st.floats(allow_nan=False), st.just("true")]
    elif a.kind == "path":
        options = [st.integers(), st.floats(allow_nan=False), st.just(b"/tmp"), st.just(None)]
    return st.one_of(options)


@pytest.fixture(scope="module")
def api_ctx(tmp_path_factory: pytest.TempPathFactory, _trained_run: Path, fake_data: Path) -> dict:
    import shutil

    root = tmp_path_factory.mktemp("api")
    run = root / "run"
    shutil.copytree(_trained_run, run)
    return {"run": run, "data": fake_data, "tmp": root}


@pytest.mark.parametrize(("entry", "name"), CASES, ids=[f"{e}-{n}" for e, n in CASES])
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_bad_argument_is_a_usage_error(api_ctx: dict, entry: str, name: str, data) -> None:
    call, args = ENTRY[entry]
    value = data.draw(bad_values(args[name]), label=name)
    with pytest.raises(UsageError) as info:
        call(api_ctx, **{name: value})
    flag = "--" + name.replace("_", "-")
    aliases = {"duration_s": "--duration", "max_drop_pt": "--max-drop", "onnx_path": "onnx"}
    named = (aliases.get(name, flag), name)
    assert any(n in info.value.message for n in named), f"{entry} {name}={value!r}: {info.value}"


def test_every_entry_point_checks_before_work(api_ctx: dict) -> None:
    """A wrong-typed argument is refused before anything is written into the run folder."""
    before = sorted(p.name for p in api_ctx["run"].iterdir())
    for call, args in ENTRY.values():
        name = next(iter(args))
        with pytest.raises(UsageError):
            call(api_ctx, **{name: object()})
    assert sorted(p.name for p in api_ctx["run"].iterdir()) == before
