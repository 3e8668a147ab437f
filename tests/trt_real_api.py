"""Check TensorRT names against the REAL ``tensorrt`` bindings; run in a subprocess per version.

    python trt_real_api.py FLAVOUR < request.json > report.json

The subprocess imports the real pybind11 module (``tensorrt_bindings`` from the bindings wheel,
its C dependencies replaced by aborting stubs - see scripts/fetch_trt_bindings.py) and answers:

- ``problems``: each recorded use (tests/trt_double.py ``Recorder.uses``: a module attribute,
  enum member, attribute read, call with its arity and keyword names, property assignment or
  overridden callback, with file and line) that the real API does not have or accepts differently;
- ``probes``: such uses on a line that only probes (``getattr(obj, name, default)`` / ``hasattr``)
  and copes with absence: reported for information, not failures;
- ``double``: where the double of ``FLAVOUR`` ("10"/"11") offers a name, signature or enum
  member that the real module does not have (only when FLAVOUR is given).

Signatures come from the pybind11 docstrings (``name(self: T, a: T, b: T = d) -> R``, with
"Overloaded function." lists). Nothing here ever calls into TensorRT.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sig:
    params: tuple[tuple[str, bool], ...]  # (name, has_default), without self
    star: bool = False  # *args / **kwargs: accepts anything

    @property
    def required(self) -> int:
        return sum(1 for _, d in self.params if not d)

    def accepts(self, nargs: int, kwargs: list[str]) -> bool:
        if self.star:
            return True
        names = [n for n, _ in self.params]
        if nargs > len(names) or any(k not in names[nargs:] for k in kwargs):
            return False
        return all(d or i < nargs or n in kwargs for i, (n, d) in enumerate(self.params))

    def __str__(self) -> str:
        return "(" + ", ".join(n + ("=..." if d else "") for n, d in self.params) + ")"


def _split_params(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _param_list(line: str, name: str) -> str | None:
    start = line.find(f"{name}(")
    if start < 0:
        return None
    i = start + len(name) + 1
    depth = 1
    for j in range(i, len(line)):
        depth += {"(": 1, ")": -1}.get(line[j], 0)
        if depth == 0:
            return line[i:j]
    return None


def signatures(obj: Any, name: str) -> list[Sig]:
    """The pybind11 signatures of callable ``obj`` (one per overload); [] if unknown."""
    doc = getattr(obj, "__doc__", None) or ""
    lines = [ln.strip() for ln in doc.splitlines()]
    heads = [re.sub(r"^\d+\.\s+", "", ln) for ln in lines if re.match(rf"^(\d+\.\s+)?{name}\(", ln)]
    if len(heads) > 1 and "*args" in heads[0]:
        heads = heads[1:]  # "name(*args, **kwargs)" then "Overloaded function." and the list
    sigs = []
    for head in heads:
        text = _param_list(head, name)
        if text is None:
            continue
        params, star = [], False
        for i, p in enumerate(_split_params(text)):
            pname = p.split(":")[0].split("=")[0].strip()
            if pname.startswith("*"):
                star = True
            elif not (i == 0 and pname == "self"):
                params.append((pname, "=" in p))
        sigs.append(Sig(tuple(params), star))
    return sigs


def python_signature(fn: Any) -> Sig:
    params, star = [], False
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = True
        elif not (i == 0 and p.name in ("self", "cls")):
            params.append((p.name, p.default is not p.empty))
    return Sig(tuple(params), star)


def resolve(trt: Any, path: str) -> Any:
    obj = trt
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@functools.cache
def _probe_lines(file: str) -> frozenset[int]:
    """Lines holding a ``getattr(x, name, default)`` or ``hasattr`` call: code that probes."""
    tree = ast.parse(Path(file).read_text())
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if (node.func.id == "getattr" and len(node.args) == 3) or node.func.id == "hasattr":
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def check_use(trt: Any, use: dict[str, Any]) -> str | None:
    """Why the real module does not satisfy ``use``, or None if it does."""
    kind, owner, name = use["kind"], use["owner"], use["name"]
    if kind == "module":
        return None if hasattr(trt, name) else "no such module attribute"
    try:
        base = resolve(trt, owner)
    except AttributeError:
        return f"no {owner} in the module"
    if kind == "enum":
        members = getattr(base, "__members__", {})
        return None if name in members else f"not a member of {owner} ({', '.join(members)})"
    real = getattr(base, name, None)
    if real is None and name != "__init__":
        return "no such attribute"
    if kind == "attr":
        return None
    if kind == "set":
        if not isinstance(real, property):
            return "not a property"
        return None if real.fset is not None else "read-only property (no setter)"
    if not callable(real) or isinstance(real, property):
        return "not a method"
    sigs = signatures(real, name)
    if not sigs:
        return "no signature in its docstring"
    if kind == "override":  # TensorRT calls the override with every parameter, positionally
        if any(len(s.params) == use["nargs"] or s.star for s in sigs):
            return None
        return f"overridden with {use['nargs']} parameters; TensorRT passes " + " or ".join(
            map(str, sigs)
        )
    if any(s.accepts(use["nargs"], use["kwargs"]) for s in sigs):
        return None
    kw = "".join(f", {k}=" for k in use["kwargs"])
    called = f"{use['nargs']} positional{kw}"
    return f"called with {called}; signature " + " or ".join(map(str, sigs))


def check_uses(trt: Any, uses: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    problems, probes = [], []
    seen = set()
    for use in uses:
        key = json.dumps(use, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        why = check_use(trt, use)
        if why is not None:
            probe = use["kind"] != "call" and use["line"] in _probe_lines(use["file"])
            (probes if probe else problems).append({**use, "why": why})
    return problems, probes


def _is_enum(obj: Any) -> bool:
    return isinstance(obj, type) and isinstance(getattr(obj, "__members__", None), dict)


def check_double(trt: Any, flavour: str) -> list[str]:
    """Where the double of ``flavour`` differs from the real module it stands for."""
    from trt_double import make_tensorrt

    fake = make_tensorrt(flavour)
    out: list[str] = []

    def enum(path: str, mine: type, real: Any) -> None:
        want = {k: int(v) for k, v in real.__members__.items()}
        got = {k: int(v) for k, v in mine.__members__.items()}
        if got != want:
            out.append(f"{path}: double members {got} != real {want}")

    for name in sorted(n for n in vars(fake) if not n.startswith("_") and n != "recorder"):
        mine = vars(fake)[name]
        real = getattr(trt, name, None)
        if real is None:
            out.append(f"{name}: not in the real module")
        elif _is_enum(mine):
            enum(name, mine, real)
        elif isinstance(mine, type):
            out += _check_class(name, mine, real, enum)
        elif callable(mine) and not callable(real):
            out.append(f"{name}: real one is not callable")
    return out


def _check_class(name: str, mine: type, real: type, enum: Any) -> list[str]:
    out = []
    members: dict[str, Any] = {}
    for klass in reversed(mine.__mro__):
        if klass.__module__ == "trt_double" and klass.__qualname__.startswith("make_tensorrt"):
            members.update(vars(klass))
    slots = set(getattr(mine, "__slots__", ()))
    for attr, value in sorted(members.items()):
        if attr.startswith("_") and attr != "__init__":
            continue
        where = f"{name}.{attr}"
        real_attr = getattr(real, attr, None)
        if real_attr is None:
            out.append(f"{where}: not in the real {real.__name__}")
        elif _is_enum(value):
            enum(where, value, real_attr)
        elif inspect.isfunction(value):
            sigs = signatures(real_attr, attr)
            fake = python_signature(value)
            names = [n for n, _ in fake.params]
            if sigs and not any(
                [n for n, _ in s.params][: len(names)] == names and s.required == fake.required
                for s in sigs
            ):
                out.append(f"{where}{fake}: real signature " + " or ".join(map(str, sigs)))
        elif attr in slots and not (isinstance(real_attr, property) and real_attr.fset):
            out.append(f"{where}: assignable in the double, read-only in the real bindings")
    return out


def main(argv: list[str]) -> int:
    import tensorrt_bindings as trt

    sys.modules.setdefault("tensorrt", trt)
    request = json.load(sys.stdin)
    problems, probes = check_uses(trt, request.get("uses", []))
    report: dict[str, Any] = {"version": trt.__version__, "problems": problems, "probes": probes}
    if argv:
        sys.path.insert(0, request["tests_dir"])
        report["double"] = check_double(trt, argv[0])
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
