"""A Triton model folder that vggdeploy wrote: its marker (``.vggdeploy-model.json``: which model,
and the sha256 of every file vggdeploy wrote there) and the rule for writing it again: the same
model keeps everything the user added (carried into the new folder), a file vggdeploy wrote and
the user edited is refused, another model is refused (``--force`` replaces the folder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from vggdeploy._io import sha256_file
from vggdeploy.errors import UsageError

MARKER = ".vggdeploy-model.json"
MARKER_FORMAT = "vggdeploy.triton-model"

# what a version-1 marker's folder held (it recorded no file list)
_V1_FILES = ("config.pbtxt", "labels.txt", "1/model.onnx", "1/model.plan")


def carry_user_files(target: Path, stage: Path, old: dict[str, Any]) -> None:
    """Copy every file of ``target`` that vggdeploy did not write into ``stage`` (same relative
    path, bytes and mode); UsageError when a file vggdeploy wrote was edited since."""
    recorded = old.get("files")
    ours = dict(recorded) if isinstance(recorded, dict) else dict.fromkeys(_V1_FILES)
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target).as_posix()
        if rel == MARKER or path.is_dir() and not path.is_symlink():
            continue
        if rel in ours:
            sha = ours[rel]
            if sha is not None and (path.is_symlink() or sha256_file(path) != sha):
                raise UsageError(
                    f"'{path}' was written by vggdeploy and changed since; re-writing the model "
                    "would replace your edit",
                    hint="move your edit to another file, or pass --force to replace the folder",
                )
            continue
        if (stage / rel).exists():  # cannot happen for files outside vggdeploy's set
            raise UsageError(f"'{path}' is in the way of a file triton-repo writes", hint="--force")
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            os.symlink(os.readlink(path), stage / rel)
        else:
            shutil.copy2(path, stage / rel)
    for d in sorted(p for p in target.rglob("*") if p.is_dir() and not p.is_symlink()):
        (stage / d.relative_to(target)).mkdir(parents=True, exist_ok=True)  # empty folders too


def check_same_folder(target: Path, marker: dict[str, Any]) -> dict[str, Any] | None:
    """The marker of ``target`` when it holds this same model (None: an empty folder);
    UsageError when it holds another model or one vggdeploy did not write."""
    if not target.is_dir():
        raise UsageError(f"'{target}' exists and is not a folder", hint="pass --force")
    if not any(target.iterdir()):
        return None
    marker_path = target / MARKER
    hint = "choose another --name or output folder, or pass --force to replace it"
    try:
        old = json.loads(marker_path.read_text())
    except (OSError, ValueError):
        raise UsageError(
            f"'{target}' already holds a model that vggdeploy did not write", hint=hint
        ) from None
    if not isinstance(old, dict):
        raise UsageError(f"'{marker_path}' is not a vggdeploy marker", hint=hint)
    if old.get("fingerprint") != marker["fingerprint"]:
        raise UsageError(
            f"'{target}' already holds a different model (preset {old.get('preset')!r}, "
            f"ModelSpec fingerprint {str(old.get('fingerprint'))[:12]}... vs "
            f"{marker['fingerprint'][:12]}...)",
            hint=hint,
        )
    if (
        old.get("artifact_sha256") != marker["artifact_sha256"]
        or old.get("platform") != marker["platform"]
    ):
        raise UsageError(
            f"'{target}' already holds another {old.get('platform')} build of this model "
            f"(from '{old.get('source')}', model file sha256 differs)",
            hint=hint,
        )
    return old
