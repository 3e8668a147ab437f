"""Is an artifact still made from the checkpoint (and source file) of its run? The verdict
(``fresh``, ``stale``, ``unknown``) of :mod:`vggdeploy.artifacts.provenance`'s records, read
through each backend's ``provenance`` hook in the registry; :func:`check_fresh` refuses a stale
artifact (exit 4) with the command that makes it again."""

from __future__ import annotations

import os
from pathlib import Path

from vggdeploy._io import sha256_file
from vggdeploy.artifacts.checkpoint import WEIGHTS_NAME
from vggdeploy.artifacts.provenance import (
    FRESH,
    STALE,
    UNKNOWN,
    Recorded,
    Verdict,
    mismatch,
    run_candidates,
)
from vggdeploy.backends.registry import backend_for_path
from vggdeploy.errors import ArtifactError


def verdict(path: str | os.PathLike[str], *, run: str | os.PathLike[str] | None = None) -> Verdict:
    """Is ``path`` (an artifact) made from the checkpoint of its run (``run`` or found beside
    it)? Never raises for a stale or unknown artifact; see :func:`check_fresh`."""
    p = Path(path)
    found = backend_for_path(p)
    if found is None:
        return Verdict(UNKNOWN, f"'{p}' is no artifact vggdeploy knows", p)
    info, target = found
    runs = [Path(run)] if run is not None else []
    runs += run_candidates(target, info.run_globs) if not target.is_dir() else [target]
    home = next((r for r in runs if (r / WEIGHTS_NAME).is_file()), runs[0])
    try:
        rec = info.recorded_provenance(target, home)
    except ArtifactError as exc:  # unreadable artifact: its runner says so when it is opened
        return Verdict(UNKNOWN, f"cannot read what '{target}' records ({exc.message})", target)
    if rec is None:
        return Verdict(UNKNOWN, f"{info.name} artifacts record no provenance", target)
    if rec.is_checkpoint:
        return Verdict(FRESH, f"'{target}' is the checkpoint itself", target)
    return _judge(target, rec, home, runs)


def _judge(target: Path, rec: Recorded, home: Path, runs: list[Path]) -> Verdict:
    name = f"'{target}'"
    checked: list[str] = []
    unknown: list[str] = []
    weights = home / WEIGHTS_NAME
    if not weights.is_file():
        unknown.append(f"no checkpoint ({WEIGHTS_NAME}) in '{home}' to compare with")
    elif not rec.checkpoint_sha256:
        unknown.append(f"{name} records no checkpoint sha256")
    else:
        checked.append(str(weights))
        why = mismatch(
            rec.checkpoint_sha256,
            sha256_file(weights),
            artifact=name,
            source=f"'{weights}'",
            what="checkpoint sha256",
        )
        if why:
            return Verdict(STALE, why, target, rec.action, tuple(checked))
    if rec.source is not None:
        file_name, sha = rec.source
        where = [r / file_name for r in [target.parent, *runs]]
        source = next((s for s in where if s.is_file() and s != target), None)
        if source is None:
            unknown.append(f"its source {file_name} is not beside it")
        elif not sha:
            unknown.append(f"{name} records no sha256 of {file_name}")
        else:
            checked.append(str(source))
            why = mismatch(
                sha,
                sha256_file(source),
                artifact=name,
                source=f"'{source}'",
                what=f"{file_name} sha256",
            )
            if why:
                return Verdict(STALE, why, target, rec.action, tuple(checked))
    if checked:
        return Verdict(
            FRESH, f"{name} matches {', '.join(checked)}", target, rec.action, tuple(checked)
        )
    return Verdict(UNKNOWN, "; ".join(unknown) or "nothing recorded", target, rec.action)


def check_fresh(
    path: str | os.PathLike[str], *, run: str | os.PathLike[str] | None = None
) -> Verdict:
    """The verdict of ``path``; ArtifactError (exit 4) naming what to do when it is stale."""
    v = verdict(path, run=run)
    if v.stale:
        raise ArtifactError(
            f"stale artifact: {v.reason}",
            hint=v.action or "make it again from the current checkpoint",
        )
    return v
