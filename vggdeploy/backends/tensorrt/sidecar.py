"""The ``NAME.engine.json`` sidecar: everything about a TensorRT plan that the plan cannot say.

The ``.engine`` file stays a plain serialized plan (no header), so trtexec, Triton and C++ code load
it as is. Its sidecar records what built it (TensorRT version, GPU, compatibility settings), what it
computes (ModelSpec, precision, I/O tensors, the optimization profile) and how to check it (sha256
and size of the plan, sha256 of the source ONNX).

The format is the versioned JSON Schema ``sidecar.schema.json`` next to this module. Sidecars are
made by :func:`make_sidecar` only (the build and every test), checked against the schema when
written and when read; cpp/common.cpp reads the same keys for vgg_trt.

:func:`check_engine` runs every check that needs no TensorRT object, *before* anything is
deserialized: a plan loaded into the wrong TensorRT version or onto another GPU generation fails
deep inside TensorRT with an unhelpful message (or crashes), so we refuse it first and say how to
rebuild. Which plans load where is decided by :mod:`.compat` (NVIDIA's documented rules). This
module imports neither tensorrt nor torch (jsonschema only when a sidecar is checked).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vggdeploy._io import sha256_bytes, write_json
from vggdeploy._version import __version__
from vggdeploy.backends.tensorrt.compat import Verdict, judge_hardware, judge_version, version_tuple
from vggdeploy.errors import ArtifactError
from vggdeploy.spec import ModelSpec

log = logging.getLogger(__name__)

SCHEMA_FILE = Path(__file__).with_name("sidecar.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
SIDECAR_FORMAT: str = SCHEMA["properties"]["format"]["const"]
SIDECAR_VERSION: int = SCHEMA["properties"]["version"]["maximum"]  # what make_sidecar writes
SIDECAR_SUFFIX = ".json"  # NAME.engine -> NAME.engine.json

HARDWARE_COMPAT: tuple[str, ...] = tuple(
    SCHEMA["properties"]["tensorrt"]["properties"]["hardware_compat"]["enum"]
)
PRECISIONS: tuple[str, ...] = tuple(SCHEMA["properties"]["precision"]["enum"])

__all__ = [
    "HARDWARE_COMPAT",
    "PRECISIONS",
    "SIDECAR_FORMAT",
    "SIDECAR_VERSION",
    "DeviceInfo",
    "EngineSidecar",
    "check_engine",
    "make_sidecar",
    "read_sidecar",
    "sidecar_path",
    "version_tuple",
    "write_sidecar",
]


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


def schema_problem(data: Any) -> str | None:
    """The first way ``data`` breaks the sidecar schema, in words; None when it is valid."""
    import jsonschema  # lazily: only where a sidecar is checked

    validator = jsonschema.Draft202012Validator(SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing section '{missing}'" if not where else f"section '{where}' lacks {missing}"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"'{where}' is {error.instance!r}, expected one of {allowed}"
    return f"'{where or '(top level)'}': {error.message}"


def make_sidecar(
    *,
    engine_file: str,
    plan: bytes,
    trt_version: str,
    device: DeviceInfo,
    precision: str,
    spec: ModelSpec,
    shapes: Mapping[str, Sequence[int]],
    io: Sequence[Mapping[str, Any]],
    source_onnx: tuple[str, str],
    version_compatible: bool = False,
    hardware_compat: str = "none",
    build: Mapping[str, Any] | None = None,
    layer_precision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one constructor of a sidecar (a JSON-ready dict, checked against the schema).

    ``shapes`` holds the optimization profile's min/opt/max input shapes, ``io`` the engine's
    tensors (name, mode, dtype, shape), ``source_onnx`` (file name, sha256); ``build`` adds how it
    was built (options, command, seconds) to the creation time, host and vggdeploy version;
    ``layer_precision`` is :func:`.layer_precision.gate_record`'s verdict (None: "unknown").
    """
    if layer_precision is None:
        layer_precision = {
            "requested": precision,
            "allow_fallback": False,
            "status": "unknown",
            "reason": "not checked (the sidecar was made without the engine inspector)",
        }
    data = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "engine": {"file": engine_file, "sha256": sha256_bytes(plan), "size": len(plan)},
        "tensorrt": {
            "version": str(trt_version),
            "version_compatible": bool(version_compatible),
            "hardware_compat": hardware_compat,
        },
        "device": device.to_dict(),
        "precision": precision,
        "profile": {
            "input": spec.input.name,
            **{k: list(shapes[k]) for k in ("min", "opt", "max")},
        },
        "io": [dict(t) for t in io],
        "source_onnx": {"file": source_onnx[0], "sha256": source_onnx[1]},
        "model_spec": spec.to_dict(),
        "layer_precision": dict(layer_precision),
        "build": {
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "vggdeploy": __version__,
            **(build or {}),
        },
    }
    data = json.loads(json.dumps(data))  # exactly what a reader of the file gets
    problem = schema_problem(data)
    if problem is not None:
        raise ValueError(f"make_sidecar: the sidecar would break {SCHEMA_FILE.name}: {problem}")
    return data


def write_sidecar(engine_path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` (from :func:`make_sidecar`) as the sidecar of ``engine_path``."""
    problem = schema_problem(data)
    if problem is not None:
        raise ValueError(f"refusing to write an invalid engine sidecar: {problem}")
    path = sidecar_path(engine_path)
    write_json(path, data)
    return path


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
        return bool(self.data["tensorrt"]["version_compatible"])

    @property
    def hardware_compat(self) -> str:
        return str(self.data["tensorrt"]["hardware_compat"])

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


def read_sidecar(engine_path: str | os.PathLike[str]) -> EngineSidecar:
    """Parse and schema-check the sidecar of ``engine_path`` (ArtifactError on any problem)."""
    engine = Path(engine_path)
    path = sidecar_path(engine)
    rebuild = (
        f"rebuild the engine with `vggdeploy build-engine MODEL.onnx -o {shlex.quote(str(engine))}`"
    )
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
    problem = schema_problem(data)
    if problem is not None:
        raise bad(problem)
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
    verdict = judge_version(built, sidecar.version_compatible, runtime)
    if verdict.reason == "version-mismatch":
        raise ArtifactError(
            f"engine '{engine}' was built with TensorRT {built}; this machine has TensorRT "
            f"{runtime}. A TensorRT plan loads only in the exact version that built it",
            hint=f"{rebuild}  (add --version-compatible to make a plan later releases can load)",
        )
    if verdict.reason == "runtime-older-than-builder":
        raise ArtifactError(
            f"engine '{engine}' was built version-compatible with TensorRT {built}, which loads "
            f"only in TensorRT {built} or later; this machine has TensorRT {runtime}",
            hint=f"upgrade TensorRT to >= {built}, or {rebuild}",
        )
    _refuse_other(engine, verdict, rebuild)


def _check_device(engine: Path, sidecar: EngineSidecar, device: DeviceInfo, rebuild: str) -> None:
    built = sidecar.device
    compat = sidecar.hardware_compat
    verdict = judge_hardware(
        compat, built.name, built.compute_capability, device.name, device.compute_capability
    )
    if verdict.reason == "gpu-older-than-ampere":
        raise ArtifactError(
            f"engine '{engine}' was built hardware-compatible for Ampere and later GPUs "
            f"(compute capability >= 8.0); this GPU, {device.name}, has compute capability "
            f"{device.cc}",
            hint=f"on this GPU, {rebuild} --hardware-compat none",
        )
    if verdict.reason == "compute-capability-mismatch":
        also = (
            ""
            if compat == "same-cc"
            else "  (or build with --hardware-compat ampere+ for a plan that runs on every Ampere "
            "or later GPU)"
        )
        raise ArtifactError(
            f"engine '{engine}' was built for {built.name} (compute capability {built.cc}); "
            f"this GPU is {device.name} (compute capability {device.cc})",
            hint=f"on this GPU, {rebuild}{also}",
        )
    if verdict.reason == "other-gpu-model":
        # Same compute capability, other model: TensorRT loads it, tactics may be sub-optimal.
        log.warning(
            "engine %s was built on %s and is loaded on %s (same compute capability %s); "
            "TensorRT does not recommend moving plans between GPU models: rebuild for best speed",
            engine,
            built.name,
            device.name,
            device.cc,
        )
        return
    _refuse_other(engine, verdict, rebuild)


def _refuse_other(engine: Path, verdict: Verdict, rebuild: str) -> None:
    """Refusals that only a damaged or hand-made sidecar can cause: the reason says it all."""
    if verdict.decision == "refuse":
        raise ArtifactError(
            f"engine '{engine}' cannot be loaded here: {verdict.explanation}", hint=rebuild
        )
