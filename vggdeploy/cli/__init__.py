"""The ``vggdeploy`` command: a click group; each command is a thin module in this package."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import VggDeployError

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


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vggdeploy")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train, export, compile, benchmark and serve VGG networks (Fashion-MNIST)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the group, turning VggDeployError into a message and its exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="vggdeploy", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except VggDeployError as exc:
        if debug:
            raise
        click.secho(f"error: {exc.message}", fg="red", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


def run() -> None:  # console_scripts entry point
    sys.exit(main())
