"""The recording machinery of the ``tensorrt`` test double (tests/trt_double.py).

``Recorder.uses`` collects every TensorRT name that code in a watched file reads, calls (with its
arity and keyword names), assigns or overrides, with that file and line; the pieces below are
what the fake module, its enums and its classes are built from.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent / "vggdeploy" / "backends" / "tensorrt")


class Recorder:
    """What the code under test asked for: ``calls`` (the double's own log of requests),
    ``touched`` (public names read) and ``uses`` - every TensorRT name read, called, assigned or
    overridden directly from a file under one of the ``watch`` paths, with that file and line and
    the real class it belongs to (tests/backends/tensorrt/test_real_bindings.py checks them)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.touched: list[str] = []
        self.uses: list[dict[str, Any]] = []
        self.watch: tuple[str, ...] = (PACKAGE_DIR,)
        # methods that report failure the way TensorRT does (False / None), to drive error paths:
        # parse_from_file, build_serialized_network, deserialize_cuda_engine,
        # create_execution_context
        self.fail: set[str] = set()
        # engine-inspector JSON the next built engines replay instead of the real engine of their
        # ONNX's declared precision (trt_double.INSPECTOR_FIXTURES); None: that one
        self.inspector: str | None = None

    def call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def use(self, kind: str, owner: str, name: str, **extra: Any) -> None:
        """Record a use by the caller of the double's method that calls this (two frames up)."""
        frame = sys._getframe(2)
        self.use_at(kind, owner, name, frame.f_code.co_filename, frame.f_lineno, **extra)

    def use_at(self, kind: str, owner: str, name: str, file: str, line: int, **extra: Any) -> None:
        if file.startswith(self.watch):
            use = {"kind": kind, "owner": owner, "name": name, "file": file, "line": line}
            self.uses.append({**use, **extra})

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def args_of(self, name: str) -> list[tuple[Any, ...]]:
        return [a for n, a in self.calls if n == name]


class _Member(int):
    """An enum value: an int (pybind11 enums with py::arithmetic behave so) with a name."""

    def __new__(cls, enum: str, name: str, value: int) -> _Member:
        obj = int.__new__(cls, value)
        obj.name = name  # type: ignore[attr-defined]
        obj.enum = enum  # type: ignore[attr-defined]
        return obj

    def __repr__(self) -> str:
        return f"<{self.enum}.{self.name}: {int(self)}>"  # type: ignore[attr-defined]


def _enum(rec: Recorder, name: str, values: dict[str, int], path: str | None = None) -> type:
    """A pybind11-like enum class; ``path`` is its name in the module ("ILogger.Severity")."""

    class Meta(type):
        def __getattribute__(cls, attr: str) -> Any:
            if not attr.startswith("_"):
                rec.touched.append(f"{name}.{attr}")
                rec.use("enum", path or name, attr)
            return type.__getattribute__(cls, attr)

    members = {k: _Member(name, k, v) for k, v in values.items()}
    return Meta(name, (), {**members, "__members__": dict(members)})


class _Module(ModuleType):
    """The fake module: records which module attributes the code reads."""

    def __getattribute__(self, attr: str) -> Any:
        if (not attr.startswith("_") and attr != "recorder") or attr == "__version__":
            ModuleType.__getattribute__(self, "recorder").use("module", "tensorrt", attr)
        return ModuleType.__getattribute__(self, attr)


class _RecordedMeta(type):
    """Records constructor calls made by the code under test (arity and keyword names)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        rec = type.__getattribute__(cls, "_recorder")
        rec.use("call", cls._real, "__init__", nargs=len(args), kwargs=sorted(kwargs))
        return super().__call__(*args, **kwargs)


class _Recorded(metaclass=_RecordedMeta):
    """Base of fake objects: records every public attribute read, call and assignment.

    ``_real`` is the name of the class in the real bindings that the fake stands for."""

    __slots__ = ()  # lets subclasses with __slots__ reject unknown attributes like pybind11 does
    _rec: Recorder
    _recorder: Recorder
    _real = "?"

    def __getattribute__(self, attr: str) -> Any:
        if attr.startswith("_"):
            return object.__getattribute__(self, attr)
        rec = object.__getattribute__(self, "_rec")
        rec.touched.append(attr)
        owner = type(self)._real
        rec.use("attr", owner, attr)
        value = object.__getattribute__(self, attr)
        if not inspect.isfunction(inspect.getattr_static(type(self), attr, None)):
            return value

        def method(*args: Any, **kwargs: Any) -> Any:
            rec.use("call", owner, attr, nargs=len(args), kwargs=sorted(kwargs))
            return value(*args, **kwargs)

        return method

    def __setattr__(self, attr: str, value: Any) -> None:
        if not attr.startswith("_"):
            object.__getattribute__(self, "_rec").use("set", type(self)._real, attr)
        object.__setattr__(self, attr, value)


def _overrides(rec: Recorder, base: str) -> Any:
    """``__init_subclass__`` for ILogger / IProgressMonitor: records the methods a subclass
    defines (those TensorRT calls back), with their file, line and positional arity."""

    def hook(cls: type, **kwargs: Any) -> None:
        for name, fn in vars(cls).items():
            if not name.startswith("_") and inspect.isfunction(fn):
                code = fn.__code__
                n = code.co_argcount - 1  # without self
                rec.use_at("override", base, name, code.co_filename, code.co_firstlineno, nargs=n)

    return classmethod(hook)
