"""The ``vggdeploy`` command: a click group; each command is a thin module in this package."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

import click

from vggdeploy._version import __version__
from vggdeploy.errors import VggDeployError

# command name -> "module:function" (imported only when the command runs, so --help stays fast)
COMMANDS = {
    "models": "vggdeploy.cli.models:models",
    "summary": "vggdeploy.cli.models:summary",
    "train": "vggdeploy.cli.train:train",
    "export": "vggdeploy.cli.export:export",
    "build-engine": "vggdeploy.cli.build_engine:build_engine",
    "inspect": "vggdeploy.cli.inspect:inspect",
    "bench": "vggdeploy.cli.bench:bench",
    "predict": "vggdeploy.cli.predict:predict",
    "triton-repo": "vggdeploy.cli.triton:triton_repo",
    "debug-precision": "vggdeploy.cli.debug_precision:debug_precision",
}


EXIT_INTERRUPTED = 130  # SIGINT / Ctrl-C (128 + 2)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs; the command exits 143."""


class StdoutClosed(Exception):
    """The reader of stdout went away (``vggdeploy predict ... | head -1``)."""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:  # before click turns it into exit 1
            raise StdoutClosed() from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vggdeploy")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train, export, compile, benchmark and serve VGG networks (Fashion-MNIST)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the group, turning VggDeployError into a message and its exit code.

    SIGTERM is handled like SIGINT (exit 143 instead of 130); commands that stop gracefully
    (training) install their own handlers for the time they run. A closed stdout ends quietly
    with exit 0.
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        with _sigterm_raises():
            cli.main(args=argv, prog_name="vggdeploy", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, Terminated):
            click.echo("terminated", err=True)
            return EXIT_TERMINATED
        click.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except VggDeployError as exc:
        if debug:
            raise
        color = False if os.environ.get("NO_COLOR") else None  # https://no-color.org
        click.secho(f"error: {exc.message}", fg="red", err=True, color=color)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        return exc.exit_code
    except Terminated:
        click.echo("terminated", err=True)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except (StdoutClosed, BrokenPipeError):
        _silence_stdout()
        return 0
    return 0


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """The Python docs' recipe for SIGPIPE: point stdout at devnull so that the flush at exit
    does not raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


def run() -> None:  # console_scripts entry point
    sys.exit(main())
