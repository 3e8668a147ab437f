"""Options shared by several commands."""

from __future__ import annotations

import click

from vggdeploy import _args
from vggdeploy.data.fashion_mnist import ENV_VAR

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
    "--preset", default=None, metavar="NAME", help="Model preset (see `vggdeploy models`)."
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
    :func:`vggdeploy.backends.base.parse_device` ('CUDA' -> 'cuda', 'auto' resolved), so every
    later check sees the same spelling."""

    name = "device"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        from vggdeploy.backends.base import parse_device
        from vggdeploy.errors import UsageError

        if not str(value).strip():
            self.fail("is empty; use cpu, cuda, cuda:N or auto", param, ctx)
        try:
            return str(parse_device(str(value)))
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
