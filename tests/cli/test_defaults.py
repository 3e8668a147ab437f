"""The library owns every default: each option of every `vggdeploy` command shows the default of
the library parameter it sets, and its help text quotes that value.

The cases are generated from the click tables: every command in the group, every option of it.
A command declares its library entry points with ``@options.library(...)``; an option maps to
their parameter of the same name (or ``renamed``), and one without a library default must be
listed in ``cli_only`` with the reason. So a new option is covered the moment it is added.
"""

from __future__ import annotations

import inspect
import os
import re
from typing import Any

import click
import pytest

from vggdeploy.cli import COMMANDS, cli, options

_NO_DEFAULT = object()


def _commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    return [(name, cli.get_command(ctx, name)) for name in sorted(COMMANDS)]


def _cases() -> list[Any]:
    cases = []
    for name, command in _commands():
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                cases.append(pytest.param(name, command, param, id=f"{name}--{param.name}"))
    return cases


def _library_defaults(command: click.Command, param: click.Option) -> dict[str, Any]:
    """entry -> the default of the parameter ``param`` sets there (_NO_DEFAULT: it has none)."""
    lib: options.Library = command.library  # type: ignore[attr-defined]
    name = lib.renamed.get(param.name, param.name)
    found = {}
    for entry in lib.entries:
        owner = options.resolve(entry)
        names = (
            owner.__dataclass_fields__
            if hasattr(owner, "__dataclass_fields__")
            else inspect.signature(owner).parameters
        )
        if name in names:
            try:
                found[entry] = options.library_default(owner, name)
            except KeyError:
                found[entry] = _NO_DEFAULT
    return found


def _cli_defaults(name: str, command: click.Command) -> dict[str, Any]:
    """What the command's options hold when none is given (after click's type conversion), with
    no environment variable set."""
    env = [p.envvar for p in command.params if isinstance(p.envvar, str)]
    saved = {k: os.environ.pop(k) for k in env if k in os.environ}
    try:
        return command.make_context(name, [], resilient_parsing=True).params
    finally:
        os.environ.update(saved)


def _same(cli_value: Any, lib_value: Any) -> bool:
    """Equal after the CLI's spelling: "a,b" is the list [a, b], a tuple is a list, a path a str."""

    def norm(v: Any, as_list: bool) -> Any:
        if isinstance(v, os.PathLike):
            v = os.fspath(v)
        if isinstance(v, (list, tuple)):
            return [norm(x, False) for x in v]
        if as_list and isinstance(v, str):
            return v.split(",")
        return v

    as_list = isinstance(cli_value, (list, tuple)) or isinstance(lib_value, (list, tuple))
    return norm(cli_value, as_list) == norm(lib_value, as_list)


def _default_clause(help_text: str) -> str | None:
    """The text of "(default X)" / "(default: X)" in a help text, if it has one."""
    m = re.search(r"\(default:? ([^()]*(?:\([^()]*\)[^()]*)*)\)", help_text)
    return m.group(1) if m else None


def test_every_command_declares_its_library() -> None:
    missing = [name for name, c in _commands() if not hasattr(c, "library")]
    assert not missing, f"add @options.library(...) to: {', '.join(missing)}"


def test_cases_cover_every_command_with_options() -> None:
    covered = {c.values[0] for c in _cases()}
    with_options = {n for n, c in _commands() if any(p.name != "help" for p in c.params)}
    assert covered == with_options and "bench" in covered and "train" in covered


@pytest.mark.parametrize(("name", "command", "param"), _cases())
def test_option_default_is_the_library_default(
    name: str, command: click.Command, param: click.Option
) -> None:
    lib: options.Library = command.library  # type: ignore[attr-defined]
    found = _library_defaults(command, param)
    flag = "/".join(param.opts)
    if param.name in lib.cli_only:
        assert lib.cli_only[param.name].strip(), f"{name} {flag}: say why it is CLI-only"
        assert not any(v is not _NO_DEFAULT for v in found.values()), (
            f"{name} {flag} is listed as CLI-only, but {', '.join(found)} has a default for it"
        )
        return
    assert found, (
        f"{name} {flag} sets no parameter of {', '.join(lib.entries) or 'any library function'}: "
        "map it (renamed=) or list it in cli_only= with the reason"
    )
    cli_default = _cli_defaults(name, command)[param.name]
    for entry, lib_default in found.items():
        if lib_default is _NO_DEFAULT:  # a required parameter: the option must be required too
            assert param.required or param.name in lib.cli_only, f"{name} {flag}: {entry}"
            continue
        # None = "not given": the CLI passes nothing and the library's default applies
        assert cli_default is None or _same(cli_default, lib_default), (
            f"{name} {flag} defaults to {cli_default!r}, {entry} to {lib_default!r}"
        )


@pytest.mark.parametrize(("name", "command", "param"), _cases())
def test_help_quotes_the_library_default(
    name: str, command: click.Command, param: click.Option
) -> None:
    """An option that leaves its default to the library says which it is: "(default X)" names
    the library's value (every entry's, when the builds differ)."""
    flag = "/".join(param.opts)
    defaults = [
        v
        for v in _library_defaults(command, param).values()
        if v is not _NO_DEFAULT and v is not None and v != () and v != []
    ]
    clause = _default_clause(param.help or "")
    shown = param.show_default and _cli_defaults(name, command)[param.name] is not None
    if not defaults or param.is_flag and not param.secondary_opts:
        return  # None or nothing has no value to quote (the help says it in words); a flag is off
    if not shown:
        assert clause is not None, f"{name} {flag}: the help must quote (default X)"
    if clause is not None:
        for value in defaults:
            text = options.default_text(value)
            assert re.search(rf"(^|[\s,:]){re.escape(text)}($|[\s,:;])", clause), (
                f"{name} {flag}: help says (default {clause}), the library's default is {text}"
            )


def test_bench_config_and_the_command_agree() -> None:
    """The acceptance case of issue 18: BenchConfig() is `vggdeploy bench` with no options."""
    from pathlib import Path

    from vggdeploy.backends.registry import BACKENDS
    from vggdeploy.bench.run import BenchConfig

    command = dict(_commands())["bench"]
    ctx = command.make_context("bench", ["RUN"])
    cfg = BenchConfig(run=Path("RUN"))
    assert cfg.backends == list(BACKENDS)
    renamed = command.library.renamed  # type: ignore[attr-defined]
    for key, value in ctx.params.items():
        field = renamed.get(key, key)
        if field in BenchConfig.__dataclass_fields__ and key != "run":
            assert _same(value, getattr(cfg, field)) if value is not None else True, key


def test_library_default_reads_functions_and_dataclasses() -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Config:
        a: int = 3
        b: list[int] = field(default_factory=lambda: [1, 2])
        c: str = "x"

    def f(x, *, y=5, z):  # noqa: ANN001, ANN202
        return x

    assert options.library_default(Config, "a") == 3
    assert options.library_default(Config, "b") == [1, 2]
    assert options.library_default(f, "y") == 5
    for owner, name in ((f, "z"), (f, "x"), (f, "nope"), (Config, "nope")):
        with pytest.raises(KeyError):
            options.library_default(owner, name)
    assert [options.default_text(v) for v in (True, False, 5e-4, [1, 8], "fp32", 16)] == [
        "on",
        "off",
        "0.0005",
        "1,8",
        "fp32",
        "16",
    ]
