"""The ``NAME.engine.json`` sidecar: everything about a TensorRT plan that the plan cannot say.

The ``.engine`` file stays a plain serialized plan (no header), so trtexec, Triton and C++ code load
it as is. Its sidecar records what built it (TensorRT version, GPU, compatibility settings), what it
computes (ModelSpec, precision, I/O tensors, the optimization profile) and how to check it (sha256
and size of the plan, sha256 of the source ONNX).

:func:`check_engine` runs every check that needs no TensorRT object, *before* anything is
deserialized: a plan loaded into the wrong TensorRT version or onto another GPU generation fails
deep inside TensorRT with an unhelpful message (or crashes), so we refuse it first and say how to
rebuild. This module imports neither tensorrt nor torch.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._io import sha256_bytes, write_json
from ...errors import ArtifactError
from ...spec import ModelSpec
from ...variants import EXPORT_PRECISIONS

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "vggdeploy.engine-sidecar"
SIDECAR_VERSION = 1
SIDECAR_SUFFIX = ".json"  # NAME.engine -> NAME.engine.json

HARDWARE_COMPAT = ("none", "ampere+", "same-cc")
AMPERE = (8, 0)


@dataclass(frozen=True)
class DeviceInfo:
    """The CUDA device an engine is built on or loaded onto."""

    name: str
    compute_capability: tuple[int, int]

    @property
    def cc(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compute_capability": list(self.compute_capability)}


def sidecar_path(engine_path: str | os.PathLike[str]) -> Path:
    p = Path(engine_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    path = sidecar_path(engine_path)
    write_json(path, data)
    return path


def version_tuple(version: str) -> tuple[int, ...]:
    """'10.16.1.11' -> (10, 16, 1, 11); ignores suffixes such as 'rc1' or '+cuda12'."""
    parts = []
    for piece in str(version).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


@dataclass(frozen=True)
class EngineSidecar:
    """A parsed, schema-checked sidecar; ``data`` is the full JSON object."""

    path: Path
    data: dict[str, Any]

    @property
    def engine_sha256(self) -> str:
        return self.data["engine"]["sha256"]

    @property
    def engine_size(self) -> int:
        return int(self.data["engine"]["size"])

    @property
    def trt_version(self) -> str:
        return str(self.data["tensorrt"]["version"])

    @property
    def version_compatible(self) -> bool:
        return bool(self.data["tensorrt"].get("version_compatible", False))

    @property
    def hardware_compat(self) -> str:
        return str(self.data["tensorrt"].get("hardware_compat", "none"))

    @property
    def device(self) -> DeviceInfo:
        d = self.data["device"]
        major, minor = d["compute_capability"]
        return DeviceInfo(str(d["name"]), (int(major), int(minor)))

    @property
    def precision(self) -> str:
        return str(self.data["precision"])

    @property
    def profile(self) -> dict[str, Any]:
        return self.data["profile"]

    @property
    def batch_bounds(self) -> tuple[int, int]:
        return int(self.profile["min"][0]), int(self.profile["max"][0])

    @property
    def rebuild_command(self) -> str:
        return str(self.data.get("build", {}).get("command") or "vggdeploy build-engine MODEL.onnx")

    def model_spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.data["model_spec"], source=f"{self.path} model_spec")


_REQUIRED = {
    "engine": ("file", "sha256", "size"),
    "tensorrt": ("version",),
    "device": ("name", "compute_capability"),
    "profile": ("input", "min", "opt", "max"),
    "model_spec": (),
    "io": (),
    "source_onnx": ("sha256",),
    "build": (),
}


def read_sidecar(engine_path: str | os.PathLike[str]) -> EngineSidecar:
    """Parse and schema-check the sidecar of ``engine_path`` (ArtifactError on any problem)."""
    engine = Path(engine_path)
    path = sidecar_path(engine)
    rebuild = f"rebuild the engine with `vggdeploy build-engine MODEL.onnx -o {engine}`"
    if not path.is_file():
        raise ArtifactError(
            f"engine sidecar not found: '{path}' (every vggdeploy engine has one; it records the "
            "TensorRT version, GPU and checksum needed to load the plan safely)",
            hint=f"keep NAME.engine and NAME.engine.json together, or {rebuild}",
        )
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"engine sidecar '{path}' is not readable JSON ({exc})",
            hint=f"the file is corrupt or truncated; {rebuild}",
        ) from exc

    def bad(msg: str) -> ArtifactError:
        return ArtifactError(f"engine sidecar '{path}': {msg}", hint=rebuild)

    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise bad(f"'format' is {got!r}, expected {SIDECAR_FORMAT!r}")
    version = data.get("version")
    if not isinstance(version, int) or not 1 <= version <= SIDECAR_VERSION:
        raise bad(
            f"schema version {version!r} is not supported (this vggdeploy reads versions "
            f"1..{SIDECAR_VERSION}); it was written by another vggdeploy release"
        )
    for section, keys in _REQUIRED.items():
        if section not in data:
            raise bad(f"missing section '{section}'")
        missing = [k for k in keys if k not in data[section]]
        if missing:
            raise bad(f"section '{section}' lacks {', '.join(missing)}")
    if data.get("precision") not in EXPORT_PRECISIONS:
        raise bad(
            f"precision {data.get('precision')!r} is not one of {', '.join(EXPORT_PRECISIONS)}"
        )
    return EngineSidecar(path=path, data=data)


def check_engine(
    engine_path: str | os.PathLike[str],
    *,
    trt_version: str | None,
    device: DeviceInfo | None,
) -> tuple[EngineSidecar, bytes]:
    """Verify an engine against its sidecar and this machine; return (sidecar, plan bytes).

    Order: sidecar present and well-formed; plan complete (size) and unchanged (sha256); plan
    loadable by ``trt_version``; plan built for ``device``. ``trt_version`` / ``device`` None skip
    the machine checks (for inspecting an engine where TensorRT or a GPU is absent). The bytes
    returned are the ones hashed, so the caller deserializes exactly what was verified.
    """
    engine = Path(engine_path)
    if not engine.is_file():
        raise ArtifactError(
            f"TensorRT engine not found: '{engine}'",
            hint="build one with `vggdeploy build-engine RUN/model.onnx -o ENGINE`",
        )
    sidecar = read_sidecar(engine)
    rebuild = f"rebuild it: {sidecar.rebuild_command}"
    try:
        plan = engine.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read '{engine}': {exc.strerror or exc}") from exc

    if len(plan) < sidecar.engine_size:
        raise ArtifactError(
            f"engine '{engine}' is truncated: {len(plan):,} bytes on disk, the sidecar "
            f"'{sidecar.path.name}' records {sidecar.engine_size:,} bytes",
            hint=f"the copy or build was interrupted; copy it again or {rebuild}",
        )
    digest = sha256_bytes(plan)
    if len(plan) != sidecar.engine_size or digest != sidecar.engine_sha256:
        raise ArtifactError(
            f"engine '{engine}' does not match its sidecar '{sidecar.path.name}': sha256 on disk "
            f"{digest[:16]}... ({len(plan):,} bytes), sidecar records "
            f"{sidecar.engine_sha256[:16]}... ({sidecar.engine_size:,} bytes)",
            hint=f"the plan was replaced or damaged after it was built; {rebuild}",
        )

    if trt_version is not None:
        _check_trt_version(engine, sidecar, trt_version, rebuild)
    if device is not None:
        _check_device(engine, sidecar, device, rebuild)
    return sidecar, plan


def _check_trt_version(engine: Path, sidecar: EngineSidecar, runtime: str, rebuild: str) -> None:
    built = sidecar.trt_version
    if sidecar.version_compatible:
        # Version-compatible plans (TensorRT >= 8.6) load in the same or any later release.
        if version_tuple(runtime) >= version_tuple(built):
            return
        raise ArtifactError(
            f"engine '{engine}' was built version-compatible with TensorRT {built}, which loads "
            f"only in TensorRT {built} or later; this machine has TensorRT {runtime}",
            hint=f"upgrade TensorRT to >= {built}, or {rebuild}",
        )
    if version_tuple(runtime) != version_tuple(built):
        raise ArtifactError(
            f"engine '{engine}' was built with TensorRT {built}; this machine has TensorRT "
            f"{runtime}. A TensorRT plan loads only in the exact version that built it",
            hint=f"{rebuild}  (add --version-compatible to make a plan later releases can load)",
        )


def _check_device(engine: Path, sidecar: EngineSidecar, device: DeviceInfo, rebuild: str) -> None:
    built = sidecar.device
    compat = sidecar.hardware_compat
    if compat == "ampere+":
        if device.compute_capability >= AMPERE:
            return
        raise ArtifactError(
            f"engine '{engine}' was built hardware-compatible for Ampere and later GPUs "
            f"(compute capability >= 8.0); this GPU, {device.name}, has compute capability "
            f"{device.cc}",
            hint=f"on this GPU, {rebuild} --hardware-compat none",
        )
    if device.compute_capability != built.compute_capability:
        raise ArtifactError(
            f"engine '{engine}' was built for {built.name} (compute capability {built.cc}); "
            f"this GPU is {device.name} (compute capability {device.cc})",
            hint=f"on this GPU, {rebuild}  (or build with --hardware-compat ampere+ for a plan "
            "that runs on every Ampere or later GPU)",
        )
    if compat == "none" and device.name != built.name:
        # Same compute capability, other model: TensorRT loads it, tactics may be sub-optimal.
        log.warning(
            "engine %s was built on %s and is loaded on %s (same compute capability %s); "
            "TensorRT does not recommend moving plans between GPU models: rebuild for best speed",
            engine,
            built.name,
            device.name,
            device.cc,
        )
