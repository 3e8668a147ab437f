"""What any artifact is, by its content, through the backend registry's hooks
(:meth:`BackendInfo.content_identity`), and the one refusal of a file whose name contradicts its
content (:func:`check_identity`, exit 4). Bench labels rows by :func:`artifact_identity`; loading,
serving, ``build-engine`` and ``triton-repo`` refuse through :func:`check_identity` (called by
``freshness.check_fresh``, the gate every one of them passes)."""

from __future__ import annotations

import os

from vggdeploy.artifacts.identity import Identity, check_name
from vggdeploy.backends.registry import backend_for_path
from vggdeploy.errors import ArtifactError


def artifact_identity(path: str | os.PathLike[str]) -> Identity:
    """What ``path`` is by its content; ArtifactError when it is no artifact vggdeploy knows or
    records nothing readable about itself."""
    found = backend_for_path(path)
    if found is None:
        raise ArtifactError(f"'{path}' is no artifact vggdeploy knows", hint="check the path")
    info, target = found
    if info.opens_folders:
        return Identity("fp32", "eager")
    return info.content_identity(target)


def check_identity(path: str | os.PathLike[str]) -> Identity | None:
    """The identity of ``path`` (None for a run folder / checkpoint file), refused with exit 4
    when its name claims something its content is not."""
    found = backend_for_path(path)
    if found is None or found[0].opens_folders:
        return None
    info, target = found
    if info.identity is None and info.recorded_precision(target) is None:
        return None  # nothing readable (an engine without its sidecar): its loader refuses it
    ident = info.content_identity(target)
    check_name(target, ident)
    return ident


__all__ = ["artifact_identity", "check_identity"]
