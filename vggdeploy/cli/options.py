"""Options shared by several commands."""

from __future__ import annotations

import click

from ..data.fashion_mnist import ENV_VAR

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
