"""Options shared by several commands."""

from __future__ import annotations

import click

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

# Batch dimensions are int32 in ONNX Runtime and TensorRT shapes; far below that, the memory
# check (vggdeploy.spec.check_batch_memory) refuses what one forward pass cannot hold.
MAX_BATCH = 2**31 - 1


class Number(click.ParamType):
    """An int or float option that must be finite and within bounds.

    click reports a violation as ``Invalid value for '--NAME': ...`` (exit 2), so the message
    names the option. Reusable by every command (train's numbers included)."""

    def __init__(
        self,
        kind: type = float,
        *,
        min: float | None = None,
        max: float | None = None,
        min_open: bool = False,
        max_open: bool = False,
    ) -> None:
        self.kind = kind
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        import math

        if isinstance(value, bool):
            self.fail(f"expected a {self.name}, got {value!r}", param, ctx)
        try:
            if self.kind is int:
                v = value if isinstance(value, int) else int(str(value).strip(), 10)
            else:
                v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a valid {self.name}", param, ctx)
        if self.kind is float and not math.isfinite(v):
            self.fail(f"must be a finite number, got {value!r}", param, ctx)
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


NON_NEGATIVE_FLOAT = Number(float, min=0)  # tolerances that may be 0
POSITIVE_INT = Number(int, min=1)  # counts: iterations, repeats, threads, images
NON_NEGATIVE_INT = Number(int, min=0)  # warm-up calls, delays
BATCH = Number(int, min=1, max=MAX_BATCH)  # a batch size or a profile bound
BATCHES = NumberList(BATCH)
DURATION = Number(float, min=0, min_open=True, max=86_400)  # seconds; a day is already absurd
