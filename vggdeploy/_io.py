"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader never sees a half-written file, and killing the process mid-write leaves the previous
version intact. Temp files are named ``.NAME.PID.XXXXXXXX.tmp``; one that a killed writer left
behind is removed by the next write to that folder once it is stale: its writer PID no longer
runs, or this process holds the folder's run lock (vggdeploy.runlock) and the file is older than
the lock (every writer of a run folder holds that lock, so nobody else can be writing it). Temp
files of live processes are never touched, so concurrent writers in a shared folder are safe.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from vggdeploy.errors import OutputError

# Folders whose run lock this process holds -> when it took it (time.time()). Written by
# vggdeploy.runlock (which sits above this module), read by remove_stale_temps.
LOCKED_SINCE: dict[Path, float] = {}


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) or raise OutputError naming it."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create output folder '{p}': {exc.strerror or exc}",
            hint="choose a writable location with --out / -o",
        ) from exc
    if not os.access(p, os.W_OK):
        raise OutputError(
            f"output folder '{p}' is not writable",
            hint="choose a writable location with --out / -o, or fix its permissions",
        )
    return p


_TEMP = re.compile(r"^\..+?(?:\.(?P<pid>\d+))?\.[a-z0-9_]{8}\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the stale ``.NAME.PID.XXXXXXXX.tmp`` files in ``folder`` (see the module docstring);
    returns what was removed."""
    since = LOCKED_SINCE.get(Path(folder).resolve())
    removed = []
    for p in Path(folder).glob(".*.tmp"):
        m = _TEMP.match(p.name)
        if m is None:
            continue
        pid = int(m["pid"]) if m["pid"] else None
        if pid == os.getpid():
            continue  # ours: another thread may be writing it
        if pid is None or _pid_alive(pid):  # no PID (older vggdeploy) or a live (reused?) PID
            try:
                # (a margin for coarse file-system clocks: only files clearly older count)
                if since is None or p.stat().st_mtime >= since - 2.0:
                    continue
            except OSError:
                continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def _mkstemp(target: Path) -> tuple[int, str]:
    ensure_dir(target.parent)
    remove_stale_temps(target.parent)
    try:
        return tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from exc


def _output_error(target: Path, exc: BaseException) -> BaseException:
    if isinstance(exc, OSError) and not isinstance(exc, OutputError):
        hint = "free some disk space" if exc.errno == errno.ENOSPC else None
        return OutputError(f"cannot write '{target}': {exc.strerror or exc}", hint=hint)
    return exc


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on success fsync and rename it over ``path``."""
    target = Path(path)
    fd, tmp = _mkstemp(target)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        err = _output_error(target, exc)
        if err is not exc:
            raise err from exc
        raise


def write_files(files: list[tuple[str | os.PathLike[str], bytes]]) -> None:
    """Write several files as one step: every temp file is written and fsynced first, and only
    then are they renamed into place (in the given order). Running out of space, or any other
    write error, leaves all the previous versions as they were."""
    pending: list[tuple[str, Path]] = []
    target = Path(files[0][0]) if files else Path(".")
    try:
        for path, data in files:
            target = Path(path)
            fd, tmp = _mkstemp(target)
            pending.append((tmp, target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
        for tmp, dst in pending:
            target = dst
            os.replace(tmp, dst)
    except BaseException as exc:
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        err = _output_error(target, exc)
        if err is not exc:
            raise err from exc
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Strict JSON (RFC 8259): a non-finite float is written as null, never as bare NaN."""
    write_text(path, dumps_json(obj, indent=2) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path for libraries that insist on writing by file name; rename on success."""
    target = Path(path)
    fd, tmp = _mkstemp(target)
    os.close(fd)
    try:
        try:
            yield Path(tmp)
        except OSError as exc:  # the library's own errors stay theirs, unless the disk is full
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise _output_error(target, exc) from exc
            raise
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            raise _output_error(target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- strict JSON, writability before long work, all-or-nothing multi-file outputs ----


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±Infinity) replaced by None, recursively.

    JSON has no NaN; a metric that is undefined (e.g. the cosine of an all-zero vector) or
    overflowed is recorded as null, which every strict parser reads."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalar
        return json_safe(obj.item())
    return obj


def dumps_json(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(obj)`` with ``allow_nan=False``."""
    return json.dumps(json_safe(obj), allow_nan=False, **kw)


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Check, before any long work, that files can be created in folder ``path``.

    The folder need not exist yet: then its nearest existing ancestor must be a writable folder.
    Writability is probed by creating (and removing) a file, which also catches read-only file
    systems and root on a read-only mount. Nothing is created when the check fails. Raises
    OutputError (exit 8) naming the folder."""
    p = Path(path)
    probe_in = p
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    hint = "choose a writable location with --out / -o, or fix its permissions"
    if not probe_in.is_dir():
        raise OutputError(f"cannot write the {what} '{p}': '{probe_in}' is not a folder", hint=hint)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vggdeploy-probe.", suffix=".tmp", dir=probe_in)
    except OSError as exc:
        raise OutputError(
            f"cannot write the {what} '{p}': {exc.strerror or exc}", hint=hint
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return p


@contextlib.contextmanager
def staged_files(
    target: str | os.PathLike[str], *, replaces: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Write a set of files all-or-nothing: yield an empty staging folder inside ``target``;
    write every file there. On success the staged files are moved into ``target`` together
    (the old versions first set aside, put back if a move fails) and files named in
    ``replaces`` that the new set lacks are removed, so no stale file stays beside new ones.
    On any failure ``target``'s files are unchanged and no temp folder remains. An OSError
    (a full disk, ...) becomes OutputError (exit 8) naming ``target``."""
    import shutil

    out = ensure_dir(target)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".stage.", suffix=".tmp", dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write in '{out}': {exc.strerror or exc}") from exc
    old = stage / ".old.tmp"
    moved: list[tuple[Path, Path]] = []  # (from, to), undone in reverse on failure
    try:
        try:
            yield stage
            new = sorted(p.name for p in stage.iterdir() if p.is_file())
            old.mkdir()
            for name in sorted(set(new) | set(replaces)):
                if (out / name).is_file():
                    os.replace(out / name, old / name)
                    moved.append((out / name, old / name))
            for name in new:
                os.replace(stage / name, out / name)
                moved.append((stage / name, out / name))
        except OutputError:
            raise
        except OSError as exc:
            raise OutputError(
                f"cannot write the outputs in '{out}': {exc.strerror or exc}",
                hint="free some space or choose another folder with --out; "
                "the previous outputs were left as they were",
            ) from exc
    except BaseException:
        for src, dst in reversed(moved):
            with contextlib.suppress(OSError):
                os.replace(dst, src)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def publish_dirs(pairs: list[tuple[Path, Path]]) -> None:
    """Rename every staged folder onto its target (same file system), all or none: a previous
    target is set aside first and removed only once every folder is in place; if a rename
    fails, the swaps already made are undone and the previous folders put back."""
    import shutil

    swapped: list[tuple[Path, Path | None]] = []  # (target, its previous folder set aside)
    try:
        for stage, target in pairs:
            swapped.append((target, _swap_dir(stage, target)))
    except BaseException:
        for target, previous in reversed(swapped):
            shutil.rmtree(target, ignore_errors=True)
            if previous is not None:
                os.replace(previous, target)
        raise
    for _, previous in swapped:
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)


def _swap_dir(stage: Path, target: Path) -> Path | None:
    """Rename ``stage`` to ``target``; returns the previous target, set aside, or None."""
    if not target.exists():
        os.replace(stage, target)
        return None
    trash = target.with_name(f".{target.name}.old-{os.getpid()}.tmp")
    os.replace(target, trash)
    try:
        os.replace(stage, target)
    except BaseException:
        os.replace(trash, target)  # put the previous folder back
        raise
    return trash
