"""Issue 19, class 7: every numeric option of every command, generated from the CLI's own click
tables (vggdeploy.cli.cli), gets the issue's values (nan, inf, -inf, -1, 0, 2.5, 1e20, 1e400,
unicode digits) plus hypothesis-drawn ones (floats incl. subnormal and huge, big integers, text
with unicode digits, whitespace, '0x10', '1_000', '+1', '-0').

Contract (vggdeploy/cli/options.py): a value is either refused with exit 2 and a message naming
the option, or accepted and handed to the library as the number it spells. Never exit 1, never a
traceback. The library call is replaced by a spy that records its arguments and stops the command
(the spy decides nothing: the expected number comes from :func:`reference`, Python's own reading
of ASCII text, and the expected refusal from the option's declared bounds).

Independent checks of the bounds themselves: every integer option fits int32 (or the file format
it is written to, checked against Triton's real ModelConfig protobuf), every float option refuses
NaN/inf, and every numeric option is declared with the one validating type.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vggdeploy.cli import COMMANDS, LazyGroup, cli, main
from vggdeploy.cli import options as O  # noqa: N812

INT32_MAX = 2**31 - 1

# The issue's set, then the edges every numeric parser gets wrong somewhere.
ISSUE_VALUES = ["nan", "inf", "-inf", "-1", "0", "2.5", "1e20", "1e400", "١٢", "５", "٣"]
EDGE_VALUES = [
    "", " ", " 7 ", "0x10", "1_000", "+1", "-0", "1e3", "4.0", "1", "2", "5", "64",
    "2147483647", "2147483648", "4294967295", "4294967296", "18446744073709551616",
    "9" * 400, "1e-310", "-1e-310", "5e-324", "1.7976931348623157e308", "0.999999", "1.0",
    "true", "1,2", "NaN", "Infinity", "-0.0", "١", "1٢", "²", "①", "\u00a03", "3\u2003",
]  # fmt: skip
DEVICE_VALUES = [
    "cuda:-1", "cuda:1e3", "CUDA", "cuda:٣", "gpu", "cpu:0", "", "cuda:²", "cuda:0x1",
    "cuda:99999999999999999999", "cuda: 1", "Cpu", " cpu ", "cuda:", "auto", "cuda:2147483647",
    "cuda:2147483648", "0", "-1", "cuda:1.5", "cuda:+1", "mps", "cuda:0,1",
]  # fmt: skip
SIZE_SUFFIXES = ["", "G", "M", "K", "B", "GiB", "MB"]


class Reached(Exception):  # noqa: N818 - the spy's stop signal, not an error
    """The command got as far as its library call; ``args``/``kwargs`` are what it passed."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        super().__init__("library reached")
        self.args_, self.kwargs = args, kwargs


# ---- the commands: an otherwise valid argv, the library call to spy on, and how to read an
# option's value off that call ------------------------------------------------------------------
@dataclass
class Variant:
    command: str
    argv: Callable[[dict], list[str]]  # without the option under test
    target: str  # "module:attribute" of the single library call the command makes
    read: Callable[[Reached, str], Any]  # option dest -> the value the library received
    options: tuple[str, ...] = ()  # dests covered by this variant (default: all numeric ones)
    skip: dict[str, str] = field(default_factory=dict)  # dest -> why this variant leaves it


def _attr(name_map: dict[str, str] | None = None) -> Callable[[Reached, str], Any]:
    return lambda r, dest: getattr(r.args_[0], (name_map or {}).get(dest, dest))


def _kw(name_map: dict[str, str] | None = None) -> Callable[[Reached, str], Any]:
    return lambda r, dest: r.kwargs[(name_map or {}).get(dest, dest)]


def _engine_onnx(c: dict) -> str:
    return str(c["tmp"] / "m.onnx")


VARIANTS = [
    Variant(
        "train",
        lambda c: ["train", "--out", str(c["tmp"] / "out"), "--data-dir", str(c["fake_data"])],
        "vggdeploy.train.loop:train",
        _attr(),  # the resolved TrainConfig
    ),
    Variant(
        "export",
        lambda c: ["export", str(c["run"])],
        "vggdeploy.cli.export:export_variants",  # the name the command calls
        _kw(),
    ),  # fmt: skip
    Variant(
        "build-engine",
        lambda c: ["build-engine", _engine_onnx(c), "-o", str(c["tmp"] / "m.engine")],
        "vggdeploy.backends.tensorrt:build_engine",
        _kw(),
        skip={"calib_size": "openvino only: the openvino variant below"},
    ),
    Variant(
        "build-engine",
        lambda c: ["build-engine", str(c["run"]), "--backend", "openvino", "--int8"],
        "vggdeploy.export.openvino:build_openvino",
        _kw(),
        options=("calib_size",),
    ),
    Variant(
        "build-engine",
        lambda c: [
            "build-engine",
            str(c["run"]),
            "--backend",
            "inductor",
            "-o",
            str(c["tmp"] / "m.pt2"),
        ],  # fmt: skip
        "vggdeploy.backends.inductor:build_inductor",
        _kw(),
        options=("max_batch", "device"),
    ),
    Variant(
        "bench",
        lambda c: [
            "bench",
            str(c["run"]),
            "--backends",
            "torch",
            "--precisions",
            "fp32",
            "--data-dir",
            str(c["fake_data"]),
            "--out",
            str(c["tmp"] / "bench"),
        ],  # fmt: skip
        "vggdeploy.bench.progress:bench_with_progress",
        _attr({"duration": "duration_s"}),
        # --repeats must not exceed --iters (a cross-option rule, BenchConfig.validate)
        skip={},
    ),
    Variant(
        "predict",
        lambda c: ["predict", str(c["run"]), str(c["image"]), "--json"],
        "vggdeploy.serve.predictor:load",
        _kw(),
    ),  # fmt: skip
    Variant(
        "triton-repo",
        lambda c: ["triton-repo", str(c["run"]), "-o", str(c["tmp"] / "repo")],
        "vggdeploy.serve.triton:build_triton_repo",
        _kw(),
    ),
    Variant(
        "debug-precision",
        lambda c: ["debug-precision", str(c["run"])],
        "vggdeploy.debug:debug_precision",
        _kw(),
    ),  # fmt: skip
    Variant(
        "serve",
        lambda c: ["serve", str(c["run"])],
        "vggdeploy.serve.server:serve_forever",
        lambda r, dest: getattr(r.args_[1], {"drain_timeout": "drain_timeout_s"}.get(dest, dest)),
    ),
    Variant(
        "summary",
        lambda c: ["summary"],
        "vggdeploy.models:layer_shapes",
        lambda r, dest: r.args_[1],
    ),  # fmt: skip
]


def _command(name: str) -> click.Command:
    cmd = LazyGroup.get_command(cli, click.Context(cli), name)  # type: ignore[arg-type]
    assert cmd is not None
    return cmd


def numeric_params(cmd: click.Command) -> list[click.Option]:
    """The options that carry numbers, found by their declared type."""
    kinds = (O.Number, O.NumberList, O.Size, O.DeviceName, click.types.IntParamType,
             click.types.FloatParamType)  # fmt: skip
    return [p for p in cmd.params if isinstance(p, click.Option) and isinstance(p.type, kinds)]


def cases() -> list[tuple[Variant, str]]:
    out = []
    for v in VARIANTS:
        for p in numeric_params(_command(v.command)):
            if (not v.options or p.name in v.options) and p.name not in v.skip:
                out.append((v, p.name))
    return out


CASES = cases()
CASE_IDS = [
    f"{v.command}{'-' + v.target.rsplit(':')[1] if v.options else ''}--{d}" for v, d in CASES
]


# ---- what a value must mean (Python's own reading of ASCII text) ------------------------------
def reference(text: str, t: click.ParamType) -> Any:
    """The value an option of type ``t`` must hand the library for ``text``, or None where it
    must be refused."""
    if isinstance(t, O.NumberList):
        items = [s for s in text.replace(" ", "").split(",") if s]
        vals = [reference(s, t.item) for s in items]
        return tuple(vals) if vals and all(v is not None for v in vals) else None
    if isinstance(t, O.Size):
        m = text.isascii() and re.fullmatch(r"\s*([0-9]+)\s*([BKMG]?)(?:I?B)?\s*", text.upper())
        if not m or int(m.group(1)) == 0:
            return None
        n = int(m.group(1)) * {"": 2**20, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]
        return n if n <= 2**63 - 1 else None
    if isinstance(t, O.DeviceName):
        s = text.strip().lower()
        if s in ("cpu", "cuda"):
            return s
        if s == "auto":
            return "auto"  # resolved by the machine: checked separately
        idx = s.removeprefix("cuda:")
        if re.fullmatch(r"[0-9]+", idx) and int(idx) <= INT32_MAX:
            return f"cuda:{int(idx)}"
        return None
    assert isinstance(t, O.Number), f"{t!r}: declare numeric options with vggdeploy.cli.options"
    if not text.isascii() or "_" in text:
        return None
    s = text.strip()
    try:
        v: Any = int(s, 10) if t.kind is int else float(s)
    except ValueError:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    lo_ok = t.min is None or (v > t.min if t.min_open else v >= t.min)
    hi_ok = t.max is None or (v < t.max if t.max_open else v <= t.max)
    if not (lo_ok and hi_ok):
        return None
    return Either(v) if t.range_checked_by else v


@dataclass(frozen=True)
class Either:
    """The range is the library's (``Number.range_checked_by``): refused with exit 2 naming the
    option, or used as exactly this value. TYPICAL checks that ordinary values are used."""

    value: Any


# Values each library-ranged option must accept (the help texts' own examples and defaults).
TYPICAL = {
    "epochs": ["1", "16"], "batch_size": ["1", "128"], "lr": ["0.05", "1e-3"],
    "momentum": ["0", "0.9"], "weight_decay": ["0", "5e-4"], "warmup_epochs": ["0", "0.5"],
    "label_smoothing": ["0", "0.1"], "erase": ["0"], "ema": ["0", "0.999"],
    "seed": ["0", "4294967295"], "workers": ["0", "2"], "input_size": ["28", "32"],
    "limit_train": ["64"], "limit_test": ["64"], "images": ["1", "300"],
}  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fake_data: Path, _trained_run: Path) -> dict:
    root = tmp_path_factory.mktemp("numbers")
    run = root / "run"
    shutil.copytree(_trained_run, run)
    image = root / "img.npy"
    np.save(image, np.zeros((28, 28), np.uint8))
    return {"root": root, "run": run, "image": image, "fake_data": fake_data}


class _StubPredictor:
    """What predict's load() returns here: real Predictions (10 classes) so that --top-k is
    applied by the real Predictions.to_records."""

    def __enter__(self) -> _StubPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def predict(self, images: list[str], *, preprocessed: bool = False) -> Any:
        from vggdeploy.serve.predictor import Predictions, softmax

        logits = np.arange(10, dtype=np.float32)[None, :].repeat(len(images), 0)
        labels = tuple(f"c{i}" for i in range(10))
        return Predictions(np.full(len(images), 9), softmax(logits), ("c9",) * len(images),
                           logits, labels, tuple(images))  # fmt: skip


def invoke(base: dict, variant: Variant, argv_tail: list[str], capsys, tmp: Path) -> tuple:
    """Runs the command with its library call spied on: (exit code or Reached, stdout, stderr)."""
    module, attr = variant.target.split(":")
    ctx = {**base, "tmp": tmp}
    calls: list[Reached] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(Reached(args, kwargs))
        if variant.command == "predict":
            return _StubPredictor()
        raise calls[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(f"{module}.{attr}", spy)
        try:
            code: Any = main([*variant.argv(ctx), *argv_tail])
        except Reached as r:
            code = r
    out, err = capsys.readouterr()
    if variant.command == "predict" and calls:
        code = calls[0] if code == 0 else code
    return code, out, err


def check(base: dict, variant: Variant, dest: str, text: str, capsys, tmp: Path) -> None:
    param = next(p for p in _command(variant.command).params if p.name == dest)
    opt = max(param.opts, key=len)
    tail = [opt, text]
    if variant.command == "bench" and dest in ("repeats", "iters"):  # repeats <= iters: own rule
        tail += ["--iters", str(INT32_MAX)] if dest == "repeats" else ["--repeats", "1"]
    expected = reference(text, param.type)
    code, out, err = invoke(base, variant, tail, capsys, tmp)
    what = f"{variant.command} {opt} {text!r}"
    assert "Traceback" not in err, f"{what}: traceback\n{err}"
    if isinstance(expected, Either):
        if not isinstance(code, Reached) and text.strip() not in TYPICAL.get(dest, []):
            expected = None  # refused by the library's range check: same contract as below
        else:
            expected = expected.value
    if expected is None:
        assert code == 2, f"{what}: expected exit 2, got {code!r}\n{err}"
        assert f"'{opt}'" in err or opt in err, f"{what}: message does not name {opt}\n{err}"
        return
    assert isinstance(code, Reached), (
        f"{what}: expected {expected!r} to be used, got exit {code}\n{err}"
    )
    if variant.command == "predict" and dest == "top_k":  # applied after the call: read stdout
        records = json.loads(out)
        assert len(records[0]["top"]) == min(expected, 10), f"{what}: {records[0]['top']}"
        return
    got = variant.read(code, dest)
    if isinstance(param.type, O.NumberList):
        got = tuple(got)
        if variant.command == "bench":  # bench measures each batch once, smallest first
            expected = tuple(sorted(set(expected)))
    if isinstance(param.type, O.DeviceName) and expected == "auto":  # the library resolves it
        assert got in ("auto", "cpu", "cuda"), f"{what}: 'auto' reached the library as {got!r}"
    else:
        assert got == expected and type(got) is type(expected), f"{what}: library got {got!r}"


def _values_for(t: click.ParamType, dest: str) -> list[str]:
    if isinstance(t, O.DeviceName):
        return DEVICE_VALUES + ISSUE_VALUES
    if isinstance(t, O.Size):
        return [v + s for v in ISSUE_VALUES + EDGE_VALUES[:20] for s in SIZE_SUFFIXES[:3]]
    if isinstance(t, O.NumberList):
        return [x for v in ISSUE_VALUES + EDGE_VALUES for x in (v, f"1,{v}", f"{v},2")]
    return ISSUE_VALUES + EDGE_VALUES + TYPICAL.get(dest, [])


# ---- the tests --------------------------------------------------------------------------------
def test_every_numeric_option_is_covered_and_typed() -> None:
    """A new command or option is swept without editing this file, unless its command is new:
    then it needs a VARIANTS row. Plain click.INT/FLOAT/IntRange take '١٢' and NaN; every number
    goes through vggdeploy.cli.options."""
    covered = {(v.command, d) for v, d in CASES}
    for name in COMMANDS:
        cmd = _command(name)
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            assert not isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType)), (
                f"{name} {p.opts[0]}: use vggdeploy.cli.options.Number, not click's {p.type!r}"
            )
            carries_number = p.name in ("device", "workspace") or (p.metavar or "") == "SIZE"
            assert not (carries_number and p.type is click.STRING), f"{name} {p.opts[0]} untyped"
        for p in numeric_params(cmd):
            assert (name, p.name) in covered, f"{name} {p.opts[0]}: add a VARIANTS row"


def test_integer_bounds_fit_int32_or_their_format() -> None:
    """No integer option is unbounded: int32 unless its consumer's format is named here."""
    wider = {("train", "seed"): 2**32}  # uint32 seeds; 2**32 itself: TrainConfig.validate
    for name in COMMANDS:
        for p in numeric_params(_command(name)):
            t = p.type.item if isinstance(p.type, O.NumberList) else p.type
            if isinstance(t, O.Number) and t.kind is int:
                assert t.max is not None and t.max <= wider.get((name, p.name), INT32_MAX), (
                    f"{name} {p.opts[0]}: max {t.max}"
                )


@pytest.mark.parametrize(("variant", "dest"), CASES, ids=CASE_IDS)
def test_fixed_values(variant: Variant, dest: str, base: dict, capsys, tmp_path: Path) -> None:
    param = next(p for p in _command(variant.command).params if p.name == dest)
    for i, text in enumerate(_values_for(param.type, dest)):
        check(base, variant, dest, text, capsys, tmp_path / str(i))


UNICODE_DIGITS = st.characters(categories=["Nd", "No"])
number_text = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(0, 2**40).map(lambda n: f"{n:,}".replace(",", "_")),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True).map(repr),
    st.floats(min_value=0, max_value=1e6).map(lambda f: f"{f:.3e}"),
    st.text(UNICODE_DIGITS, min_size=1, max_size=4),
    st.tuples(st.sampled_from(["", " ", "+", "-", "\t", "0x", "0"]), st.integers(0, 10**6),
              st.sampled_from(["", " ", ".", ".0", "e1", "e-1", "j"])).map(
        lambda t: f"{t[0]}{t[1]}{t[2]}"),
)  # fmt: skip
device_text = st.one_of(
    st.sampled_from(DEVICE_VALUES),
    st.tuples(st.sampled_from(["cuda:", "CUDA:", "cpu:", "", "gpu:"]), number_text).map("".join),
)


@pytest.mark.parametrize(("variant", "dest"), CASES, ids=CASE_IDS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_drawn_values(
    variant: Variant, dest: str, base: dict, capsys, tmp_path: Path, data: st.DataObject
) -> None:
    param = next(p for p in _command(variant.command).params if p.name == dest)
    t = param.type
    if isinstance(t, O.DeviceName):
        text = data.draw(device_text)
    elif isinstance(t, O.Size):
        text = data.draw(number_text) + data.draw(st.sampled_from(SIZE_SUFFIXES))
    elif isinstance(t, O.NumberList):
        text = ",".join(data.draw(st.lists(number_text, min_size=1, max_size=3)))
    else:
        text = data.draw(number_text)
    check(base, variant, dest, text, capsys, tmp_path / f"h{abs(hash(text))}")
