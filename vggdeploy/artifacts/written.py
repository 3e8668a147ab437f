"""The record of what vggdeploy wrote into a folder: ``FOLDER/.vggdeploy-written.json``.

One home for the fact "this file is vggdeploy's": every command that writes a set of files into
a folder (``debug-precision`` reports, ``build-engine`` packages, ...) records each file's name
and sha256 *as written*, and before replacing a file it checks that the file is still exactly
what it recorded. A file vggdeploy did not write - or one the user changed since - is refused
(:class:`~vggdeploy.errors.UsageError`, exit 2) unless ``force``: a command touches only files it
wrote. The record is also the trust record of native code (README "Security"): a ``.pt2`` package
or TensorRT plan in a run folder is loaded by ``bench``/``serve`` discovery only when this record
says vggdeploy built it and its bytes still have the recorded sha256 (:func:`recorded_as_built`).

Writes are all-or-nothing (:func:`owned_outputs`: ``_io.staged_files``): the new files and the
updated record are published together, or on any failure the folder is left byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vggdeploy._io import sha256_file, staged_files, write_json
from vggdeploy.errors import UsageError

RECORD = ".vggdeploy-written.json"
RECORD_FORMAT = "vggdeploy.written"


def read_record(folder: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """name -> {"sha256", "command"} of the files vggdeploy recorded in ``folder`` (empty when
    there is no readable record: then nothing there counts as vggdeploy's)."""
    path = Path(folder) / RECORD
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        str(k): v
        for k, v in files.items()
        if isinstance(v, dict) and isinstance(v.get("sha256"), str)
    }


def unowned(folder: str | os.PathLike[str], names: Iterable[str]) -> list[str]:
    """The names among ``names`` that exist in ``folder`` but are not, byte for byte, what
    vggdeploy recorded writing there (the user's files or edits)."""
    folder = Path(folder)
    record = read_record(folder)
    out = []
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        entry = record.get(name)
        if entry is None or not path.is_file() or path.is_symlink():
            out.append(name)
        elif sha256_file(path) != entry["sha256"]:
            out.append(name)
    return out


def check_replaceable(
    folder: str | os.PathLike[str], names: Iterable[str], *, force: bool = False, what: str = ""
) -> None:
    """UsageError (exit 2) naming the first file in ``folder`` that a write of ``names`` would
    replace although vggdeploy did not write it (or it changed since); nothing when ``force``."""
    if force:
        return
    foreign = unowned(folder, names)
    if foreign:
        listed = ", ".join(f"'{Path(folder) / n}'" for n in foreign)
        raise UsageError(
            f"{what or 'the output'} would replace {listed}, which vggdeploy did not write "
            "(or which was changed since it wrote it)",
            hint="move the file away, choose another output folder, or pass --force to replace it",
        )


@contextlib.contextmanager
def owned_outputs(
    folder: str | os.PathLike[str],
    names: Iterable[str],
    *,
    command: str,
    force: bool = False,
    what: str = "",
) -> Iterator[Path]:
    """Write the files ``names`` into ``folder`` all-or-nothing and record them: yields a staging
    folder to write them in. Refuses first (nothing written) when one of them exists and is not
    vggdeploy's (:func:`check_replaceable`). On success the staged files and the updated record
    are published together; a name in ``names`` left unwritten is removed (it was vggdeploy's:
    a stale plot must not sit beside new reports). On failure ``folder`` is unchanged."""
    names = list(names)
    check_replaceable(folder, names, force=force, what=what)
    with staged_files(folder, replaces=(*names, RECORD)) as stage:
        yield stage
        record = {k: v for k, v in read_record(folder).items() if k not in names}
        for p in sorted(stage.iterdir()):
            if p.is_file():
                record[p.name] = {"sha256": sha256_file(p), "command": command}
        write_json(stage / RECORD, {"format": RECORD_FORMAT, "version": 1, "files": record})


def record_written(
    folder: str | os.PathLike[str], path: str | os.PathLike[str], command: str
) -> None:
    """Add one file already written atomically into ``folder`` to its record (its sha256 now)."""
    folder, path = Path(folder), Path(path)
    record = read_record(folder)
    record[path.name] = {"sha256": sha256_file(path), "command": command}
    write_json(folder / RECORD, {"format": RECORD_FORMAT, "version": 1, "files": record})


def recorded_as_built(path: str | os.PathLike[str]) -> bool:
    """Is ``path`` a file vggdeploy recorded writing in its folder, with the same bytes?"""
    p = Path(path)
    entry = read_record(p.parent).get(p.name)
    return entry is not None and p.is_file() and sha256_file(p) == entry["sha256"]


__all__ = [
    "RECORD",
    "check_replaceable",
    "owned_outputs",
    "read_record",
    "record_written",
    "recorded_as_built",
    "unowned",
]
