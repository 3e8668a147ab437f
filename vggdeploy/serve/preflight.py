"""Checks and environment before ``vggdeploy serve`` starts anything (server.py's first steps).

Each refusal is a :class:`~vggdeploy.errors.UsageError` (exit 2) naming the option: a model name
Triton refuses, a port out of range, used twice or already listened on, a model name too long
for the Unix socket paths of the server's workspace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vggdeploy.errors import UsageError

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL (Linux)


def default_model_name(artifact: Path) -> str:
    """The run folder's name (for a file: the folder holding it, else the file's stem)."""
    p = artifact.resolve()
    base = p if p.is_dir() else (p.parent if p.stem in ("model", "") else p)
    name = base.name if base.is_dir() else base.stem
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "model"


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise UsageError(
            f"--model-name '{name}' is not a valid Triton model name",
            hint="use letters, digits, '.', '_' and '-' only",
        )
    return name


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Each port distinct and free on ``host`` now (a listener there -> UsageError, exit 2)."""
    seen: dict[int, str] = {}
    for option, port in ports.items():
        if not 1 <= port <= 65535:
            raise UsageError(f"{option} {port} is not a TCP port (1..65535)")
        if port in seen:
            raise UsageError(f"{seen[port]} and {option} are both {port}: give each its own port")
        seen[port] = option
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tritonserver binds
            try:
                s.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise UsageError(
                        f"{option} {port} is already in use on {host}",
                        hint=f"stop what listens there or pass another {option}",
                    ) from exc
                raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})") from exc


def workspace_base(model_name: str, instances: int) -> str:
    """Where pytriton's workspace goes: TMPDIR when the Unix sockets it will hold fit the
    107-byte limit of a socket path there, else /tmp; UsageError when neither fits."""
    longest = len(f"/vggdeploy-serve-XXXXXXXX/workspace/{model_name}_0_{instances - 1}-server.sock")
    for base in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        if len(base) + longest <= UNIX_SOCKET_PATH_MAX and os.path.isdir(base):
            return base
    raise UsageError(
        f"--model-name '{model_name}' is too long: the server's Unix socket paths would exceed "
        f"{UNIX_SOCKET_PATH_MAX} bytes",
        hint="use a shorter --model-name",
    )


def libpython_dir() -> str | None:
    """The folder of this interpreter's libpython, for the backend stub (which links
    libpython3.X.so.1.0 and would otherwise find the system's, e.g. Debian's under pyenv)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    return libdir if libdir and os.path.exists(os.path.join(libdir, soname)) else None


@contextlib.contextmanager
def stub_environment() -> Iterator[None]:
    """LD_LIBRARY_PATH with this interpreter's libpython first, while tritonserver is spawned
    (it copies os.environ; its stubs inherit it)."""
    libdir = libpython_dir()
    old = os.environ.get("LD_LIBRARY_PATH")
    if libdir:
        os.environ["LD_LIBRARY_PATH"] = libdir + (f":{old}" if old else "")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = old


__all__ = [
    "UNIX_SOCKET_PATH_MAX",
    "check_name",
    "check_ports",
    "default_model_name",
    "libpython_dir",
    "stub_environment",
    "workspace_base",
]
