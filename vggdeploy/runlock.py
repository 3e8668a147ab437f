"""One writer per run folder: ``with run_lock(run_dir, "export"): ...``.

The lock is an advisory ``fcntl.flock`` on ``RUN/.vggdeploy.lock``, taken without waiting: a
second vggdeploy process that wants to write the same folder fails at once with
:class:`RunLockedError` (exit code 8) naming the folder and the holder (PID, command, start time),
which the holder writes into the lock file. The kernel drops the lock when its process exits, so
a killed writer never leaves a stale lock; the file itself stays (removing it would race with a
process that has it open) and is emptied on release.

Locks are re-entrant within one process (``train`` holding the folder may call a helper that
takes it again). ``_io.LOCKED_SINCE`` tells :mod:`vggdeploy._io` when this process took the lock
of a folder, so temp files that an earlier, killed writer left there can be recognised as stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from vggdeploy import _args
from vggdeploy._io import LOCKED_SINCE, ensure_dir
from vggdeploy.errors import OutputError, RunLockedError

LOCK_NAME = ".vggdeploy.lock"

_held: dict[Path, list] = {}  # resolved folder -> [fd, depth, acquired (time.time())]
_guard = threading.Lock()


def _key(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir).resolve()


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode("utf-8") or "{}")
    except (OSError, ValueError, UnicodeDecodeError):
        info = {}
    if not info:
        return "another process"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
    what = f"{info.get('stage', '?')}: {info.get('command', '?')}"
    return f"PID {info.get('pid', '?')} ({what}, since {when})"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str], stage: str) -> Iterator[Path]:
    """Hold the write lock of the folder ``run_dir`` (created if missing) for the block, or raise
    RunLockedError at once if another process holds it."""
    ensure_dir(run_dir)
    key = _key(run_dir)
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield key
        finally:
            with _guard:
                entry[1] -= 1
        return
    path = key / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            f"cannot create the lock file '{path}': {exc.strerror or exc}",
            hint="choose a writable run folder",
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunLockedError(
            f"run folder '{run_dir}' is in use by {holder}; two processes writing one run folder "
            f"could mix artifacts of different weights, so this {stage} did not start",
            hint="wait for the other process to finish (or stop it), then run this again",
        ) from None
    except OSError as exc:
        os.close(fd)
        raise OutputError(f"cannot lock '{path}': {exc.strerror or exc}") from exc
    now = time.time()
    info = {"pid": os.getpid(), "stage": stage, "command": shlex.join(sys.argv), "since": now}
    with contextlib.suppress(OSError):  # the holder note is informative; the flock is the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    with _guard:
        _held[key] = [fd, 1, now]
        LOCKED_SINCE[key] = now
    try:
        yield key
    finally:
        with _guard:
            _held.pop(key, None)
            LOCKED_SINCE.pop(key, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def source_lock(source: str | os.PathLike[str], stage: str) -> Iterator[Path | None]:
    """Hold the lock of the run folder a build reads: ``source`` itself when it is a folder, else
    the folder holding it. A folder that does not exist is not created (nothing is locked; the
    build then reports its missing input)."""
    p = Path(source)
    run_dir = p if p.is_dir() else p.parent
    if not run_dir.is_dir():
        yield None
        return
    with run_lock(run_dir, stage) as key:
        yield key


_F = TypeVar("_F", bound=Callable[..., Any])


def holds_source_lock(stage: str) -> Callable[[_F], _F]:
    """Decorator for a build whose first argument is the file or run folder it reads: the whole
    call holds :func:`source_lock`, so an export rewriting model.onnx mid-build is refused at
    once, and so is the build during an export (from Python exactly as from the CLI)."""

    def wrap(build: _F) -> _F:
        first = next(iter(inspect.signature(build).parameters))  # its name in messages

        @functools.wraps(build)
        def locked(source: Any, *args: Any, **kwargs: Any) -> Any:
            _args.path(first, source)  # a wrong type is a UsageError, before any lock
            with source_lock(source, stage):
                return build(source, *args, **kwargs)

        return locked  # type: ignore[return-value]

    return wrap
