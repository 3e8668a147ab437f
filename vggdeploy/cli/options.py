"""Options shared by several commands, and where every option's default comes from.

The library owns every default: a command's option either defaults to the value of the library
parameter it sets (:func:`library_default`) or to None, meaning "not given: the library's
default applies", and its help text quotes that value (:func:`default_text`). Each command names
its library entry points with :func:`library`; ``tests/cli/test_defaults.py`` walks every
option of every command and holds it to them."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import click

from vggdeploy import _args
from vggdeploy.data.fashion_mnist import ENV_VAR
from vggdeploy.models.presets import DEFAULT_PRESET

# ---- defaults: one home, the library ----


def library_default(owner: Any, name: str) -> Any:
    """The default of parameter ``name`` of ``owner`` (a function or a dataclass; "module:attr"
    is imported). KeyError when ``owner`` has no such parameter or it has no default."""
    if isinstance(owner, str):
        owner = resolve(owner)
    if dataclasses.is_dataclass(owner):
        found = owner.__dataclass_fields__.get(name)  # type: ignore[union-attr]
        if found is not None and found.default is not dataclasses.MISSING:
            return found.default
        if found is not None and found.default_factory is not dataclasses.MISSING:
            return found.default_factory()
        raise KeyError(f"{owner.__name__} has no default for {name!r}")
    param = inspect.signature(owner).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        raise KeyError(f"{owner.__name__}() has no default for {name!r}")
    return param.default


def resolve(entry: str) -> Any:
    """The object named by "module:attr" (attr may be dotted: "module:Class.method")."""
    module, attr = entry.split(":")
    owner: Any = importlib.import_module(module)
    for part in attr.split("."):
        owner = getattr(owner, part)
    return owner


def default_text(value: Any) -> str:
    """How help texts (and their test) write a default: on/off, 0.0005, a,b,c."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(default_text(v) for v in value)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Library:
    """The library entry points ("module:attr") whose parameters a command's options set."""

    entries: tuple[str, ...]
    renamed: Mapping[str, str]  # option's parameter name -> the library's, where they differ
    cli_only: Mapping[str, str]  # options with no library default -> why


def library(
    *entries: str,
    renamed: Mapping[str, str] | None = None,
    cli_only: Mapping[str, str] | None = None,
) -> Callable[[click.Command], click.Command]:
    """Declare (on top of ``@click.command``) which library functions or dataclasses a command
    calls: each option maps to their parameter of the same name (or ``renamed``), and one that has
    no library default is listed in ``cli_only`` with the reason."""

    def attach(command: click.Command) -> click.Command:
        command.library = Library(entries, renamed or {}, cli_only or {})  # type: ignore[attr-defined]
        return command

    return attach


# ---- options shared by several commands ----

data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=str),
    envvar=ENV_VAR,
    default=None,
    help=f"Folder holding the Fashion-MNIST IDX files (also ${ENV_VAR}).",
)
download = click.option(
    "--download", is_flag=True, help="Download Fashion-MNIST from the upstream mirror if not found."
)
preset = click.option(
    "--preset",
    default=None,
    metavar="NAME",
    help=f"Model preset (default {DEFAULT_PRESET}; see `vggdeploy models`).",
)


# ---- numbers: one validation for every command's numeric options ----
#
# The contract (tests/cli/test_option_properties.py generates its cases from these types):
# a number is written in ASCII (optional sign, decimal digits, for floats a point and an
# exponent); it is finite; it lies within the option's bounds, and an integer option without a
# narrower bound fits int32, the widest integer every consumer holds (ONNX Runtime and TensorRT
# shapes, the C++ runners' counters, Triton's config fields). Anything else is exit 2 naming the
# option. Python's int()/float() alone would also take '١٢', '５' and '1_000', which the C++
# runners and every file format read differently or not at all.

INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1
# Batch dimensions are int32 in ONNX Runtime and TensorRT shapes; far below that, the memory
# check (vggdeploy.spec.check_batch_memory) refuses what one forward pass cannot hold.
MAX_BATCH = INT32_MAX


class Number(click.ParamType):
    """An int or float option that must be ASCII, finite and within bounds (``range_checked_by``:
    the library checks finiteness and range, before any work).

    click reports a violation as ``Invalid value for '--NAME': ...`` (exit 2), so the message
    names the option. Reusable by every command (train's numbers included). An integer's ``max``
    defaults to :data:`INT32_MAX`."""

    def __init__(
        self,
        kind: type = float,
        *,
        min: float | None = None,
        max: float | None = None,
        min_open: bool = False,
        max_open: bool = False,
        range_checked_by: str | None = None,
    ) -> None:
        self.kind = kind
        if kind is int and max is None:
            max = INT32_MAX
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open
        # The library function that checks this option's range (and NaN/inf) with its own
        # message, e.g. TrainConfig.validate; the type then checks only the spelling.
        self.range_checked_by = range_checked_by
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, bool):
            self.fail(f"expected a {self.name}, got {value!r}", param, ctx)
        v = self._parse(value, param, ctx)
        if self.min is not None and (v <= self.min if self.min_open else v < self.min):
            self.fail(
                f"must be {'>' if self.min_open else '>='} {_num(self.min)}, got {_num(v)}",
                param,
                ctx,
            )
        if self.max is not None and (v >= self.max if self.max_open else v > self.max):
            op = "<" if self.max_open else "<="
            self.fail(f"must be {op} {_num(self.max)}, got {_num(v)}", param, ctx)
        return v

    def _parse(self, value, param, ctx):  # type: ignore[no-untyped-def]
        import math

        if isinstance(value, int) and self.kind is int:
            return value
        if isinstance(value, (int, float)) and self.kind is float:
            v = float(value)
        else:
            text = str(value)
            if not text.isascii() or "_" in text:
                self.fail(f"{value!r} is not a plain ASCII {self.name}", param, ctx)
            try:
                v = int(text.strip(), 10) if self.kind is int else float(text)
            except ValueError:  # click's own wording ("is not a valid float")
                what = "integer" if self.kind is int else "float"
                self.fail(f"{value!r} is not a valid {what}", param, ctx)
        if self.kind is float and not math.isfinite(v) and not self.range_checked_by:
            self.fail(f"must be a finite number, got {value!r}", param, ctx)
        return v

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, min={self.min}, max={self.max})"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


class NumberList(click.ParamType):
    """Comma-separated numbers, each checked by ``item`` (a :class:`Number`); returns a tuple."""

    name = "list"

    def __init__(self, item: Number) -> None:
        self.item = item

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [v for v in str(value).replace(" ", "").split(",") if v]
        if not items:
            self.fail("expected comma-separated numbers, got nothing", param, ctx)
        return tuple(self.item.convert(v, param, ctx) for v in items)


class Size(click.ParamType):
    """A byte size such as 512M or 4G (a bare number means MiB, as in trtexec) -> bytes, parsed by
    :func:`vggdeploy.backends.tensorrt.parse_size` (the Python API's parser)."""

    name = "size"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        from vggdeploy.backends.tensorrt.build import parse_size
        from vggdeploy.errors import UsageError

        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already bytes
        try:
            return parse_size(str(value))
        except UsageError as exc:
            self.fail(f"{exc.message} ({exc.hint})" if exc.hint else exc.message, param, ctx)


class DeviceName(click.ParamType):
    """A device string, checked and normalised by the one parser,
    :func:`vggdeploy.backends.base.parse_device` ('CUDA' -> 'cuda'), so every later check sees
    the same spelling; 'auto' stays 'auto' (the library resolves it, as from Python)."""

    name = "device"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        from vggdeploy.backends.base import parse_device
        from vggdeploy.errors import UsageError

        if not str(value).strip():
            self.fail("is empty; use cpu, cuda, cuda:N or auto", param, ctx)
        try:
            device = str(parse_device(str(value)))
            return "auto" if str(value).strip().lower() == "auto" else device
        except UsageError as exc:
            self.fail(f"{exc.message} ({exc.hint})" if exc.hint else exc.message, param, ctx)


NON_NEGATIVE_FLOAT = Number(float, min=0)  # tolerances that may be 0
FRACTION = Number(float, min=0, max=1)  # probabilities, agreement
POSITIVE_INT = Number(int, min=1)  # counts: iterations, repeats, images (int32)
NON_NEGATIVE_INT = Number(int, min=0)  # warm-up calls, workers (int32)
BATCH = Number(int, min=1, max=MAX_BATCH)  # a batch size or a profile bound
BATCHES = NumberList(BATCH)
THREADS = Number(int, min=1, max=_args.MAX_THREADS)
DURATION = Number(float, min=0, min_open=True, max=_args.MAX_DURATION_S)  # seconds
SIZE = Size()
DEVICE = DeviceName()
