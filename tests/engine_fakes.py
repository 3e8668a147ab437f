"""A stand-in TensorRT plan with a real sidecar, for tests that never deserialize the engine.

The sidecar comes from the one constructor (``make_sidecar``), as in a real build; a test that
needs a damaged sidecar writes this one, then edits the JSON on disk (explicitly, in the test).
"""

from __future__ import annotations

from pathlib import Path

from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, make_sidecar, write_sidecar
from vggdeploy.spec import ModelSpec

H100 = DeviceInfo("NVIDIA H100 80GB HBM3", (9, 0))


def stand_in_engine(
    path: Path,
    spec: ModelSpec,
    *,
    precision: str = "fp16",
    min_batch: int = 1,
    opt_batch: int = 8,
    max_batch: int = 32,
    trt_version: str = "10.13.0.35",
    device: DeviceInfo = H100,
    version_compatible: bool = False,
    hardware_compat: str = "none",
    plan: bytes | None = None,
) -> Path:
    """Write ``path`` (stand-in plan bytes) and its sidecar; return ``path``."""
    plan = plan if plan is not None else b"stand-in TensorRT plan bytes " + path.name.encode()
    path.write_bytes(plan)
    classes = spec.num_classes
    chw = (spec.input.channels, spec.input.height, spec.input.width)
    io = [
        {"name": spec.input.name, "mode": "input", "dtype": "float32", "shape": [-1, *chw]},
        {"name": spec.output_name, "mode": "output", "dtype": "float32", "shape": [-1, classes]},
    ]
    sidecar = make_sidecar(
        engine_file=path.name,
        plan=plan,
        trt_version=trt_version,
        device=device,
        precision=precision,
        spec=spec,
        shapes={
            "min": (min_batch, *chw),
            "opt": (opt_batch, *chw),
            "max": (max_batch, *chw),
        },
        io=io,
        source_onnx=(f"model.{precision}.onnx", "0" * 64),
        version_compatible=version_compatible,
        hardware_compat=hardware_compat,
        build={"command": f"vggdeploy build-engine model.{precision}.onnx -o {path}"},
    )
    write_sidecar(path, sidecar)
    return path
